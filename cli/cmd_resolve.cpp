// krr resolve TRACE: find the instruction counts of a recording made under
// KVM (docs/kvm.md, "Recording under KVM"). Replay does it by itself the
// first time; this does it now, or again.
#include "cli/commands.h"
#include "guest-model/error.h"
#include "replay-engine/replay/position_resolver.h"

#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace krr::cli {

CommandSpec resolve_command() {
    CommandSpec spec;
    spec.name = "resolve";
    spec.usage = "TRACE";
    spec.summary = "find the instruction counts of a recording made under KVM";
    spec.description =
        "KVM counts no instructions: a recording made under it logs each interrupt with the\n"
        "guest's state instead (registers and the pages written since the previous input).\n"
        "This re-executes TRACE in the emulator, places every input at the first point whose\n"
        "state matches, and stores the counts beside the log (file 'positions'). Replay, gdb\n"
        "and the timeline do it themselves on first use; run it to do it ahead, or again.\n"
        "Fails (exit 4) when the emulator cannot find an input's state: the recording and the\n"
        "emulator then differ before that input.";
    spec.min_positional = 1;
    spec.max_positional = 1;
    spec.run = [](const ParsedArgs& args) {
        const std::string path = args.positional[0];
        ResolveOptions options;
        const bool terminal = isatty(STDERR_FILENO) != 0;
        if (terminal) {
            options.progress = [](uint64_t done, uint64_t total) {
                std::fprintf(stderr, "\rkrr: resolve: %llu of %llu records placed ",
                             static_cast<unsigned long long>(done),
                             static_cast<unsigned long long>(total));
            };
        }
        auto start = std::chrono::steady_clock::now();
        ResolveResult r;
        try {
            r = resolve_positions(path, options);
        } catch (const Error& e) {
            if (terminal) {
                std::fputc('\n', stderr);
            }
            std::fprintf(stderr, "krr: resolve: %s\n", e.what());
            return 4;
        }
        double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (terminal) {
            std::fputc('\n', stderr);
        }
        if (r.already_resolved) {
            std::fprintf(stderr,
                         "krr: resolve: %s: every record has its count already (recorded "
                         "under the emulator)\n",
                         path.c_str());
            return 0;
        }
        std::fprintf(stderr,
                     "krr: resolve: %s: %llu records placed, %llu of them by their state, over "
                     "%llu instructions (%llu near misses), %.2f s\n",
                     path.c_str(), static_cast<unsigned long long>(r.records),
                     static_cast<unsigned long long>(r.positions),
                     static_cast<unsigned long long>(r.instructions),
                     static_cast<unsigned long long>(r.near_misses), seconds);
        return 0;
    };
    return spec;
}

} // namespace krr::cli
