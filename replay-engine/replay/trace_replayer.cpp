#include "replay-engine/replay/trace_replayer.h"

#include "replay-engine/replay/replay_session.h"

#include <algorithm>
#include <chrono>

namespace krr {

ReplayResult replay_trace(const std::string& path, const ReplayOptions& options) {
    constexpr uint64_t kProgressInterval = 10'000'000;
    const auto started = std::chrono::steady_clock::now();
    auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    };
    ReplaySessionOptions session_options;
    session_options.verify = options.verify;
    session_options.console = options.console;
    session_options.resolve_progress = options.resolve_progress;
    ReplaySession session(path, session_options);

    ReplayResult result;
    result.start_instruction = session.start_instruction();
    bool ok = true;
    while (ok && session.position() < session.end_instruction()) {
        ok = session.run_to(
            std::min(session.end_instruction(), session.position() + kProgressInterval));
        if (options.progress) {
            ReplayProgress p;
            p.instructions = session.position() - session.start_instruction();
            p.total = session.end_instruction() - session.start_instruction();
            p.inputs = session.inputs_consumed();
            p.seconds = elapsed();
            options.progress(p);
        }
    }
    // Records at the very end (the final state hash, the record end).
    if (ok) {
        ok = session.run_to(session.end_instruction());
    }
    result.ok = ok;
    if (!ok) {
        result.divergence = session.divergence();
    } else if (options.verify) {
        std::string console = session.console_difference();
        if (!console.empty()) {
            result.ok = false;
            result.divergence = console;
        }
    }
    result.final_instruction = session.position();
    result.inputs_consumed = session.inputs_consumed();
    result.hashes_checked = session.hashes_checked();
    result.end = session.record_end();
    result.seconds = elapsed();
    return result;
}

} // namespace krr
