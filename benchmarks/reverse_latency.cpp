// Latency of reverse execution on a long recording (issue 8's benchmark):
// reverse-stepi, and reverse-continue to a breakpoint a hundred million
// instructions back, through the same timeline API krr gdbserver drives,
// with its default checkpoint settings. The baseline, in the same process:
// replaying the same distance forward without stopping.
// Usage: reverse_latency TRACE BREAKPOINT_SYMBOL
#include "guest-model/error.h"
#include "guest-model/symbols.h"
#include "replay-engine/replay/replay_session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: reverse_latency TRACE BREAKPOINT_SYMBOL\n");
        return 2;
    }
    try {
        krr::ReplaySessionOptions options;
        options.checkpoint_interval = 10'000'000; // krr gdbserver's defaults
        options.checkpoint_memory = 1ULL << 30;
        krr::ReplaySession session(argv[1], options);
        const uint64_t length = session.end_instruction() - session.start_instruction();
        std::printf("trace: %llu instructions\n", static_cast<unsigned long long>(length));

        // Baseline: forward to the end (what `continue` to the end costs; it
        // also leaves the regular checkpoints a user's session would have).
        auto t = Clock::now();
        if (!session.run_to_end()) {
            std::fprintf(stderr, "reverse_latency: %s\n", session.divergence().c_str());
            return 1;
        }
        const double forward = since(t);
        const double mips = static_cast<double>(length) / forward / 1e6;
        std::printf("baseline: forward replay of the whole trace %.2f s (%.0f M instructions/s), "
                    "%zu checkpoints\n",
                    forward, mips, session.checkpoint_count());

        namespace fs = std::filesystem;
        const fs::path map = fs::path(session.metadata().kernel.path).parent_path() / "System.map";
        const auto address = krr::SymbolTable::load(map.string()).address_of(argv[2]);
        if (!address) {
            std::fprintf(stderr, "reverse_latency: no %s in %s\n", argv[2], map.c_str());
            return 1;
        }
        session.set_breakpoints({*address});

        std::vector<double> continues, distances;
        std::vector<double> steps;
        for (;;) {
            const uint64_t from = session.position();
            t = Clock::now();
            krr::TimelineStop stop = session.resume(krr::Direction::Backward);
            const double seconds = since(t);
            if (stop.kind != krr::TimelineStopKind::Breakpoint) {
                break;
            }
            const uint64_t back = from - session.position();
            // The first stop from the end is not a whole round back.
            if (back >= 90'000'000) {
                continues.push_back(seconds);
                distances.push_back(static_cast<double>(back));
            }
            // reverse-stepi where the user now is.
            for (int i = 0; i < 100; ++i) {
                t = Clock::now();
                if (session.step(krr::Direction::Backward).kind != krr::TimelineStopKind::Step) {
                    std::fprintf(stderr, "reverse_latency: reverse-stepi failed: %s\n",
                                 session.divergence().c_str());
                    return 1;
                }
                steps.push_back(since(t));
            }
        }
        if (continues.empty() || steps.empty()) {
            std::fprintf(stderr, "reverse_latency: no breakpoint hits a hundred million "
                                 "instructions apart\n");
            return 1;
        }
        const double distance = median(distances);
        const double baseline = distance / (mips * 1e6);
        std::printf("reverse-stepi: %zu steps, median %.1f ms, worst %.1f ms (target: median "
                    "at most 50 ms)\n",
                    steps.size(), median(steps) * 1e3,
                    *std::max_element(steps.begin(), steps.end()) * 1e3);
        std::printf("reverse-continue to %s, median %.0f M instructions back: %zu runs, median "
                    "%.2f s, worst %.2f s (target: at most 5 s)\n",
                    argv[2], distance / 1e6, continues.size(), median(continues),
                    *std::max_element(continues.begin(), continues.end()));
        std::printf("reverse-continue / forward replay of the same distance = %.2f\n",
                    median(continues) / baseline);
        std::printf("checkpoints at the end: %zu, %.0f MiB\n", session.checkpoint_count(),
                    static_cast<double>(session.checkpoint_bytes()) / (1 << 20));
        return 0;
    } catch (const krr::Error& e) {
        std::fprintf(stderr, "reverse_latency: %s\n", e.what());
        return 1;
    }
}
