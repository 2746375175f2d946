// The resolve pass of a recording made under KVM (docs/kvm.md, "Recording
// under KVM"). KVM counts no instructions, so the recorder logged each
// synchronous input (port and MMIO reads, TSC reads) with its RIP only, and
// each asynchronous one (an interrupt, an NMI) and the end with a
// StatePosition. This pass re-executes the recording in the emulator from
// its snapshot: synchronous inputs are consumed in order as the emulator
// makes them (their count is where it made them), and each asynchronous
// input's count is the first point after the previous input where RIP, the
// general registers, RFLAGS and the listed pages match the position. The
// counts go to the trace's positions file (trace_positions.h), which replay
// applies.
#pragma once

#include "guest-model/machine_state.h"
#include "guest-model/trace/log_records.h"

#include <cstdint>
#include <functional>
#include <string>

namespace krr {

struct ResolveOptions {
    // Most instructions the emulator may execute looking for one position
    // before giving up (a recording it cannot follow would otherwise spin).
    uint64_t max_instructions_per_position = 1ULL << 32;
    // Called now and then with the records placed so far and their number.
    std::function<void(uint64_t done, uint64_t total)> progress;
};

struct ResolveResult {
    uint64_t records = 0;      // given a count
    uint64_t positions = 0;    // of those, found by their state
    uint64_t instructions = 0; // executed from the snapshot to the end
    // Breakpoint stops at a position's RIP whose state did not match yet.
    uint64_t near_misses = 0;
    bool already_resolved = false;
};

// Before an interrupt or NMI recorded under KVM is delivered: the vCPU
// takes the RF it had in the recording (trace::StatePosition says why).
void apply_recorded_resume_flag(CpuState& cpu, const trace::InputRecord& input);

// A KVM may stop after the last iteration of a REP string instruction
// without moving RIP past it (this host's PVM does: RCX is 0 and RIP still
// the REP's), which the emulator never does. When `recorded_rip` is such a
// REP, RCX is 0 and the vCPU stands just past it, this puts RIP back on it,
// as the recording had it (the REP then runs again with nothing to do, as
// it did in the recording), and says so.
class Interpreter;
// The length of the REP string instruction at `rip` (prefixes included),
// or 0 when the bytes there are not one.
unsigned rep_string_length(Interpreter& interpreter, const CpuState& cpu, uint64_t rip);
bool rewind_to_finished_rep(Interpreter& interpreter, CpuState& cpu, uint64_t recorded_rip);

// Resolves the trace at `path` and writes its positions file. Throws
// krr::Error naming the input it could not place (the recording and the
// emulator then differ before it).
ResolveResult resolve_positions(const std::string& path, const ResolveOptions& options = {});

// Whether the trace at `path` has records awaiting resolve_positions (and
// no valid positions file for them). Throws krr::Error on a bad trace.
bool needs_resolving(const std::string& path);

} // namespace krr
