// A replay that can move in time — the timeline gdb's reverse execution
// drives, and what `krr replay` runs from start to end. The trace's
// snapshot is re-executed forward with its logged inputs; checkpoints are
// taken along the way; going back restores the nearest earlier checkpoint
// and re-executes forward.
//
// Positions are TimelinePositions (instruction count, inputs consumed,
// exceptions delivered since the count was reached). Moving by an
// instruction count alone (run_to, seek) lands before the inputs logged at
// that count.
//
// Checkpoints hold the vCPU, the log cursor and, through CheckpointMemory,
// the guest pages written since the previous checkpoint, so their cost
// follows what the guest writes. They are taken every `checkpoint_interval`
// instructions, and more densely while re-executing toward a position the
// user went back to; when their pages exceed `checkpoint_memory`, those
// crowded together far from the current position are dropped first.
//
// Debugging: breakpoints (addresses) and watchpoints (linear ranges) are
// evaluated by the emulator. Forward, a breakpoint stops before its
// instruction, a watchpoint after the access. Backward, resume() stops at
// the last breakpoint hit before the current position, or before the last
// instruction that touched a watched range (so gdb sees the old value as
// the new one, as when running backward). The memory and registers a
// debugger changes are discarded when it moves in time.
//
// One vCPU: SMP traces are issue 11.
#pragma once

#include "guest-model/guest_memory.h"
#include "guest-model/machine_state.h"
#include "guest-model/trace/log_records.h"
#include "guest-model/trace/trace_metadata.h"
#include "replay-engine/mmu/linear_memory.h"
#include "replay-engine/replay/timeline_position.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace krr {

struct ReplaySessionOptions {
    bool verify = false;                  // check state hashes and the console
    std::function<void(uint8_t)> console; // replayed console bytes, each once
    uint64_t checkpoint_interval = 0;     // instructions; 0: no checkpoints
    uint64_t checkpoint_memory = 0;       // bytes of checkpointed pages; 0: no limit
    // A recording made under KVM is resolved (position_resolver.h) when a
    // session first opens it; this hears how far that has got.
    std::function<void(uint64_t done, uint64_t total)> resolve_progress;
};

enum class TimelineStopKind : uint8_t {
    Step,        // one step done
    Breakpoint,  // at a breakpoint address (before its instruction)
    Watchpoint,  // a watched range was touched (see TimelineStop::watch)
    TraceStart,  // went back to the start of the recording
    TraceEnd,    // went forward to its end
    Interrupted, // the caller asked to stop (gdb's Ctrl-C)
    Diverged,    // the replay failed: see divergence()
};

struct TimelineStop {
    TimelineStopKind kind = TimelineStopKind::Step;
    uint64_t breakpoint = 0; // for Breakpoint
    WatchHit watch;          // for Watchpoint
};

enum class Direction : uint8_t { Forward, Backward };

struct CheckpointInfo {
    TimelinePosition position;
    uint64_t pages = 0; // pages this checkpoint holds itself
};

class ReplaySession {
public:
    // Throws krr::Error when the trace cannot be read.
    ReplaySession(const std::string& path, ReplaySessionOptions options);
    ~ReplaySession();
    ReplaySession(const ReplaySession&) = delete;
    ReplaySession& operator=(const ReplaySession&) = delete;

    const trace::TraceMetadata& metadata() const;
    uint64_t start_instruction() const;
    // The last count the log reaches (the record end's, or the last
    // record's for a truncated trace).
    uint64_t end_instruction() const;
    uint64_t position() const; // the instruction count
    TimelinePosition now() const;
    TimelinePosition start() const;
    bool at_end() const;
    uint64_t inputs_consumed() const;
    uint64_t hashes_checked() const;
    // The record end, once the session has gone past it; nullopt while not,
    // and for a truncated trace.
    const std::optional<trace::RecordEnd>& record_end() const;

    // Forward to `instructions` (clamped to the end). False on a divergence
    // (see divergence()); the session is then unusable.
    bool run_to(uint64_t instructions);
    bool run_to_end() { return run_to(end_instruction()); }
    // Anywhere between start and end, backward or forward.
    bool seek(uint64_t instructions);
    bool seek(const TimelinePosition& position);

    // --- debugging ---
    void set_breakpoints(std::vector<uint64_t> addresses);
    void set_watchpoints(std::vector<WatchRange> ranges);
    // One transition: an instruction (with any exception it raises), or one
    // asynchronous input.
    TimelineStop step(Direction direction);
    // Until a breakpoint or watchpoint, an end of the trace, or
    // `interrupted()` (polled every few million instructions) says stop.
    TimelineStop resume(Direction direction, const std::function<bool()>& interrupted = {});

    // Guest-virtual memory through the current page tables, as a debugger
    // sees it (no faults, no side effects). Return the bytes done.
    size_t read_virtual(uint64_t address, std::span<uint8_t> out);
    size_t write_virtual(uint64_t address, std::span<const uint8_t> in);
    // For register writes; like memory writes, discarded on the next move.
    VcpuState& modify_vcpu();
    VcpuState& modify_vcpu(unsigned index);
    bool modified() const;

    // The logged inputs (for `monitor info inputs`), in log order.
    const std::vector<trace::InputRecord>& inputs() const;
    std::vector<CheckpointInfo> checkpoints() const;
    uint64_t checkpoint_bytes() const; // memory held by checkpoints (pages, vCPU, TLB)
    size_t checkpoint_count() const;

    // Empty when the console replayed so far equals the recorded one up to
    // the same point of the log; otherwise where they differ.
    std::string console_difference() const;
    // The console the replay has produced up to the current position.
    std::string console_so_far() const;
    const std::string& divergence() const;

    // The vCPU executing at the current position, and every vCPU by index
    // (several vCPUs execute one at a time; docs/smp.md).
    const VcpuState& vcpu() const;
    unsigned current_vcpu() const;
    unsigned vcpu_count() const;
    const VcpuState& vcpu(unsigned index) const;
    const GuestMemory& memory() const;

    class Impl; // opaque; public only so its helpers in the .cpp can name it

private:
    std::unique_ptr<Impl> impl_;
};

} // namespace krr
