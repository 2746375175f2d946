// krr replay TRACE [--verify]: re-execute a recording and print its console.
#include "cli/commands.h"
#include "guest-model/error.h"
#include "replay-engine/replay/trace_replayer.h"

#include <cstdio>
#include <unistd.h>

namespace krr::cli {

namespace {

constexpr int kStatusDiverged = 4;

} // namespace

CommandSpec replay_command() {
    CommandSpec spec;
    spec.name = "replay";
    spec.usage = "TRACE [--verify]";
    spec.summary = "re-execute a recording exactly, printing its console";
    spec.description =
        "Restores TRACE's snapshot and re-executes it in the emulator, feeding every logged\n"
        "input back where it was taken. Fails (exit 4) with a report when the replay does not\n"
        "consume an input where the log says. --verify also checks the recorded state hashes\n"
        "and the console, reporting the first divergence with the differing registers and\n"
        "pages.";
    spec.options = {
        {"verify", 0, "", "check state hashes and the console against the recording"},
        {"quiet", 'q', "", "do not print the guest console"},
    };
    spec.min_positional = 1;
    spec.max_positional = 1;
    spec.run = [](const ParsedArgs& args) {
        const std::string path = args.positional[0];
        ReplayOptions options;
        options.verify = args.has("verify");
        if (!args.has("quiet")) {
            options.console = [](uint8_t byte) {
                std::fputc(byte, stdout);
                if (byte == '\n') {
                    std::fflush(stdout);
                }
            };
        }
        // Progress on a terminal, when the console is not going to it too.
        const bool terminal =
            isatty(STDERR_FILENO) != 0 && (args.has("quiet") || isatty(STDOUT_FILENO) == 0);
        if (terminal) {
            options.resolve_progress = [](uint64_t done, uint64_t total) {
                std::fprintf(stderr,
                             "\rkrr: replay: resolving the KVM recording's positions: "
                             "%llu of %llu ",
                             static_cast<unsigned long long>(done),
                             static_cast<unsigned long long>(total));
                if (done == total) {
                    std::fputc('\n', stderr);
                }
            };
            options.progress = [](const ReplayProgress& p) {
                std::fprintf(stderr, "\rkrr: replay: %llu instructions, %llu inputs, %.1f MIPS ",
                             static_cast<unsigned long long>(p.instructions),
                             static_cast<unsigned long long>(p.inputs),
                             p.seconds > 0 ? static_cast<double>(p.instructions) / p.seconds / 1e6
                                           : 0.0);
            };
        }
        ReplayResult r = replay_trace(path, options);
        std::fflush(stdout);
        if (terminal) {
            std::fputc('\n', stderr);
        }
        if (!r.ok) {
            std::fprintf(stderr, "krr: replay: %s: %s\n", path.c_str(), r.divergence.c_str());
            return kStatusDiverged;
        }
        std::fprintf(stderr,
                     "krr: replay: %s: %llu instructions, %llu inputs, %llu state hashes%s, "
                     "%.2f s; %s\n",
                     path.c_str(),
                     static_cast<unsigned long long>(r.final_instruction - r.start_instruction),
                     static_cast<unsigned long long>(r.inputs_consumed),
                     static_cast<unsigned long long>(r.hashes_checked),
                     args.has("verify") ? " verified" : " (not checked)", r.seconds,
                     r.end ? ("recording ended: " + r.end->reason).c_str()
                           : "the trace is truncated: replayed up to its last complete chunk");
        return 0;
    };
    return spec;
}

} // namespace krr::cli
