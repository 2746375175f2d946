// Writes a recording: at the moment the guest's command starts, the machine's
// snapshot (RAM, vCPUs, devices, the emulator's clock), then every input in
// the order the vCPU received it, the console output, state hashes at a
// regular interval, and the end record. Records are appended as they happen
// and flushed in chunks, so a recorder killed at any moment leaves a trace
// readable up to its last complete chunk.
#pragma once

#include "guest-model/trace/trace_writer.h"
#include "guest-model/virtual_clock.h"
#include "recorder/accel/emulator_accelerator.h"
#include "recorder/machine/machine.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace krr {

// Instructions between state hashes. Hashing 256 MiB of guest memory takes
// about 0.1 s; every 2^28 instructions (about 2.5 s of emulation) that costs
// a few percent of recording time, and a divergence is still caught within
// one interval of where it happened (and at the end, always).
inline constexpr uint64_t kStateHashInterval = 1ULL << 28;

class TraceRecorder {
public:
    // Creates the trace directory and writes the snapshot of `machine` as it
    // is now (between instructions). Throws krr::Error.
    TraceRecorder(const std::string& path, trace::TraceMetadata metadata, Machine& machine,
                  EmulatorAccelerator& accelerator);
    ~TraceRecorder();

    void input(const trace::InputRecord& record);
    void console(uint8_t byte);
    // A state hash (with the detail a divergence report needs) now.
    void checkpoint();
    // The final state hash and the end record; the trace is complete.
    // `position`: where a recording under KVM ended, in `current_vcpu`.
    void finish(const std::string& reason, std::optional<uint32_t> exit_status,
                std::optional<trace::StatePosition> position = {}, unsigned current_vcpu = 0);
    // From now on the machine runs under KVM, which counts no instructions:
    // records get kUnresolvedCount (the resolve pass finds them), and no
    // periodic state hashes are taken (positions check memory instead).
    void set_counts_unresolved() { unresolved_ = true; }

    uint64_t inputs() const { return inputs_; }
    uint64_t start_instruction() const { return start_instruction_; }
    uint64_t log_bytes() const { return writer_->log_bytes_written(); }
    const std::string& path() const { return writer_->path(); }

private:
    void flush_console();

    std::unique_ptr<trace::TraceWriter> writer_;
    Machine& machine_;
    EmulatorAccelerator& accelerator_;
    trace::ConsoleRecord pending_console_;
    uint64_t inputs_ = 0;
    uint64_t start_instruction_ = 0;
    bool finished_ = false;
    bool unresolved_ = false;
};

// The state hash record of vCPU 0 and the machine's memory, with detail.
// The state hash at the machine's count `machine_instructions`: every vCPU's
// registers, the memory, and the detail of the vCPU running (`current`).
trace::StateHashRecord state_hash_record(std::span<const VcpuState> vcpus, unsigned current,
                                         uint64_t machine_instructions, const GuestMemory& memory);

} // namespace krr
