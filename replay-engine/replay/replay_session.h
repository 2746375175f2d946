// A replay that can move in time: the trace's snapshot re-executed forward
// with its logged inputs, checkpoints taken along the way, and seek() to any
// instruction count before or after the current one (going back restores
// the nearest earlier checkpoint and re-executes forward). This is the core
// of the timeline gdb's reverse execution will use; `krr replay` runs one
// session from start to end.
//
// A position is an instruction count, taken before the inputs logged at that
// count are applied (an interrupt taken at count N is delivered when the
// session moves past N).
//
// Checkpoints hold the vCPU, the log cursor and the guest pages written since
// the previous checkpoint (LinearMemory's dirty tracking), so their memory
// cost follows what the guest writes, not the guest's size.
#pragma once

#include "guest-model/guest_memory.h"
#include "guest-model/machine_state.h"
#include "guest-model/trace/log_records.h"
#include "guest-model/trace/trace_metadata.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace krr {

struct ReplaySessionOptions {
    bool verify = false;                  // check state hashes and the console
    std::function<void(uint8_t)> console; // replayed console bytes, each once
    uint64_t checkpoint_interval = 0;     // instructions; 0: no checkpoints
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
    // The last position the log reaches (the record end's count, or the last
    // record's for a truncated trace).
    uint64_t end_instruction() const;
    uint64_t position() const;
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
    // Empty when the console replayed so far equals the recorded one up to
    // the same point of the log; otherwise where they differ.
    std::string console_difference() const;
    const std::string& divergence() const;

    const VcpuState& vcpu() const;
    const GuestMemory& memory() const;
    size_t checkpoint_count() const;
    uint64_t checkpoint_bytes() const; // memory held by checkpoints' pages

    class Impl; // opaque; public only so its helpers in the .cpp can name it

private:
    std::unique_ptr<Impl> impl_;
};

} // namespace krr
