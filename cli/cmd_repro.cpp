// krr repro SAMPLE_DIR [--kernel K] [--accel tcg|kvm] [--attempts N] [-o TRACE] [--seed S] [--smp
// N]: record a samples/bugs/ reproducer until it crashes, replay the recording with verification,
// and print a syzbot-style report.
#include "cli/commands.h"
#include "guest-model/error.h"
#include "recorder/guest-image/guest_locator.h"
#include "repro/repro_kernel.h"
#include "repro/reproduce.h"

#include <cstdio>
#include <filesystem>

namespace krr::cli {

namespace {

constexpr int kStatusNotReproduced = 2;

} // namespace

CommandSpec repro_command() {
    CommandSpec spec;
    spec.name = "repro";
    spec.usage =
        "SAMPLE_DIR [--kernel default|syzbot|PATH] [--attempts N] [-o TRACE] [--seed S] [--smp N] "
        "[--accel tcg|kvm]";
    spec.summary = "record a bug sample until it crashes, replay it, confirm the crash";
    spec.description =
        "SAMPLE_DIR is a samples/bugs/ directory (repro.c and bug.conf). Builds the sample's\n"
        "kmod/ module and its reproducer, then records runs of the reproducer until bug.conf's\n"
        "crash line appears on the console; each attempt delays interrupts by pseudorandom\n"
        "amounts drawn from its own seed (S, S+1, ...), so racy reproducers meet different\n"
        "interleavings. The crashing trace is replayed with verification, which must print the\n"
        "same crash line at the same instruction count. Prints the title, the call trace,\n"
        "the attempts used and the commands to debug the trace. Exits 0 when reproduced\n"
        "and confirmed, 2 when no attempt crashed, 1 on errors (a replay that diverges or\n"
        "does not crash the same way included).\n"
        "\n"
        "--accel kvm records each attempt under KVM (the boot still runs in the emulator);\n"
        "the replay first finds the recording's instruction counts (krr resolve).\n"
        "\n"
        "--kernel syzbot boots the KASAN/lockdep kernel 'krr kernel build' makes, builds\n"
        "kmod/ against its tree, adds panic_on_warn=1 and recognises the report by bug.conf's\n"
        "crash-syzbot/title-syzbot/cmdline-syzbot keys. A kernel given by path is that kind\n"
        "when the config beside it enables KASAN.";
    spec.options = {
        {"output", 'o', "TRACE",
         "the crashing trace (must not exist; default: CACHE/repro/NAME/trace, replaced)"},
        {"attempts", 0, "N", "recordings to try (default: bug.conf's attempts)"},
        {"seed", 0, "S", "the first attempt's interrupt-jitter seed (default 1)"},
        {"kernel", 0, "K",
         "default (Debian's, the default), syzbot (krr kernel build), or a bzImage path"},
        {"accel", 0, "ACCEL",
         "tcg (the emulator, the default) or kvm (boots in the emulator, records the "
         "reproducer under KVM; docs/kvm.md)"},
        {"smp", 0, "N", "vCPUs (default 1; up to 8); the seed also varies their turns"},
        {"timeout", 0, "SECONDS", "wall-clock limit per attempt (default 900)"},
    };
    spec.min_positional = 1;
    spec.max_positional = 1;
    spec.run = [](const ParsedArgs& args) {
        namespace fs = std::filesystem;
        ReproOptions options;
        options.kernel = resolve_repro_kernel(args.get("kernel"));
        BugSample sample = load_bug_sample(args.positional[0]).for_kind(options.kernel.kind);
        options.accel = args.get("accel").value_or("tcg");
        if (options.accel != "tcg" && options.accel != "kvm") {
            throw Error("repro: --accel " + options.accel, "not an accelerator (tcg or kvm)");
        }
        if (options.accel == "kvm" && args.get("seed")) {
            throw Error("repro: --seed",
                        "the interrupt jitter is the emulator's; under KVM (--accel kvm) each "
                        "attempt's timing varies by itself");
        }
        if (auto n = args.get_u64("attempts")) {
            if (*n < 1 || *n > 1000) {
                throw Error("repro: --attempts", "must be between 1 and 1000");
            }
            options.attempts = static_cast<unsigned>(*n);
        }
        options.seed = args.get_u64("seed").value_or(1);
        if (auto n = args.get_u64("smp")) {
            if (*n < 1 || *n > 8) {
                throw Error("repro: --smp", "must be between 1 and 8");
            }
            options.vcpus = static_cast<unsigned>(*n);
        }
        options.attempt_timeout = static_cast<double>(args.get_u64("timeout").value_or(900));
        const fs::path repro_cache = fs::path(guest_cache_dir()) / "repro";
        options.scratch_parent = repro_cache.string();
        if (auto out = args.get("output")) {
            options.trace_path = *out;
        } else {
            options.trace_path = (repro_cache / sample.name / "trace").string();
            std::error_code ec;
            fs::remove_all(options.trace_path, ec);
        }
        options.note = [](const std::string& s) {
            std::fprintf(stderr, "krr: repro: %s\n", s.c_str());
        };

        ReproResult r = reproduce(sample, options);
        const unsigned tried = r.attempts_used;
        if (!r.reproduced) {
            std::fprintf(stderr,
                         "krr: repro: %s: did not reproduce: no crash matching /%s/ in %u "
                         "attempt%s (seeds %llu..%llu)\n",
                         sample.name.c_str(), sample.crash_pattern.c_str(), tried,
                         tried == 1 ? "" : "s", static_cast<unsigned long long>(options.seed),
                         static_cast<unsigned long long>(options.seed + tried - 1));
            return kStatusNotReproduced;
        }
        std::string vmlinux = options.kernel.vmlinux;
        if (vmlinux.empty()) {
            vmlinux = (fs::path(options.kernel.vmlinuz).parent_path() / "vmlinux").string();
        }
        if (r.report_title && *r.report_title != sample.title) {
            // bug.conf states what the sample should show; a different report
            // (another function, another detector) is worth a look.
            std::fprintf(stderr,
                         "krr: repro: note: the report reads '%s' the way syzbot names bugs; "
                         "bug.conf's title is '%s'\n",
                         r.report_title->c_str(), sample.title.c_str());
        }
        std::printf("%s\n\n", sample.title.c_str());
        for (const std::string& line : r.report) {
            std::printf("  %s\n", line.c_str());
        }
        std::printf("\n");
        std::printf("sample:    %s (racy: %s)\n", sample.dir.c_str(), sample.racy ? "yes" : "no");
        std::printf("kernel:    %s (%s reports)\n", options.kernel.vmlinuz.c_str(),
                    report_kind_name(options.kernel.kind));
        if (options.accel == "kvm") {
            std::printf("attempts:  %u (recorded under KVM)\n", tried);
            std::printf("recorded:  in %.1f s (boot in the emulator included)\n", r.record_seconds);
        } else {
            std::printf("attempts:  %u (crashed with interrupt-jitter seed %llu)\n", tried,
                        static_cast<unsigned long long>(r.seed));
            std::printf("recorded:  %llu instructions in %.1f s (boot included)\n",
                        static_cast<unsigned long long>(r.recorded_instructions), r.record_seconds);
        }
        std::printf("replayed:  verified in %.1f s; the crash line is printed at instruction "
                    "%llu in both\n",
                    r.replay_seconds, static_cast<unsigned long long>(r.crash_instruction));
        std::printf("trace:     %s\n", r.trace_path.c_str());
        if (!r.module_path.empty()) {
            std::printf("module:    %s\n", r.module_path.c_str());
        }
        std::printf("\nto debug it:\n");
        std::printf("  krr gdbserver %s --listen 127.0.0.1:1234\n", r.trace_path.c_str());
        if (options.kernel.gdbinit.empty()) {
            std::printf("  gdb %s -ex 'target remote :1234'\n", vmlinux.c_str());
        } else {
            // The kernel's gdb helpers and source paths; lx-symbols then finds
            // the module kept with the trace.
            std::printf("  gdb %s -ex 'source %s' -ex 'target remote :1234'", vmlinux.c_str(),
                        options.kernel.gdbinit.c_str());
            if (!r.module_path.empty()) {
                std::printf(" \\\n      -ex 'lx-symbols %s'",
                            fs::path(r.module_path).parent_path().c_str());
            }
            std::printf("\n");
        }
        return 0;
    };
    return spec;
}

} // namespace krr::cli
