// Replay: restore a trace's snapshot and re-execute it in the emulator,
// feeding every logged input back at its position. No device model runs:
// port and MMIO reads return the logged values (checked against the port or
// address and the instruction count), interrupts are delivered at the
// instruction counts where they were taken, time is the virtual clock of
// the instruction count plus the logged halt skips. The console is what the
// replayed guest writes to the UART's transmit register.
//
// Without verification the replay still fails loudly when an input is not
// consumed where the log says. With verification it also compares the
// state hashes the recorder stored and the console, and reports the first
// divergence with the registers and pages that differ.
#pragma once

#include "guest-model/trace/log_records.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace krr {

struct ReplayProgress {
    uint64_t instructions = 0; // retired since the snapshot
    uint64_t total = 0;        // recorded, when the log says
    uint64_t inputs = 0;
    double seconds = 0;
};

struct ReplayOptions {
    bool verify = false;
    std::function<void(uint8_t)> console;
    // Called about every 10 million instructions.
    std::function<void(const ReplayProgress&)> progress;
    // See ReplaySessionOptions::resolve_progress.
    std::function<void(uint64_t done, uint64_t total)> resolve_progress;
};

struct ReplayResult {
    bool ok = false;
    // When !ok: what diverged, where (input index, instruction count, RIP
    // with symbol) and how (registers, pages, console bytes).
    std::string divergence;
    uint64_t start_instruction = 0;
    uint64_t final_instruction = 0;
    uint64_t inputs_consumed = 0;
    uint64_t hashes_checked = 0;
    std::optional<trace::RecordEnd> end; // absent for a truncated log
    double seconds = 0;
};

// Throws krr::Error when the trace cannot be read at all; a replay that
// runs and diverges is a result with ok == false.
ReplayResult replay_trace(const std::string& path, const ReplayOptions& options);

} // namespace krr
