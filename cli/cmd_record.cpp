// krr record -o TRACE [machine options] -- CMD [ARGS]: boot (not recorded),
// then record CMD's run from the moment it starts.
#include "cli/commands.h"
#include "cli/guest_options.h"
#include "guest-model/error.h"

#include <cstdio>
#include <filesystem>
#include <unistd.h>

namespace krr::cli {

CommandSpec record_command() {
    CommandSpec spec;
    spec.name = "record";
    spec.usage = "-o TRACE [machine options] -- CMD [ARGS]";
    spec.summary = "record CMD's run, from the moment it starts, into TRACE";
    spec.description =
        "Boots the guest as 'krr run' does; when the guest's init starts CMD, snapshots the\n"
        "machine into the new directory TRACE and logs every input from there on, until CMD\n"
        "exits, the kernel panics, the guest resets or powers off, a limit is hit or Ctrl-C.\n"
        "Every ending leaves a complete trace that 'krr replay TRACE --verify' re-executes.\n"
        "With --accel kvm the machine boots in the emulator and is recorded under KVM from\n"
        "the command's start (docs/kvm.md); --boot flat --kernel IMAGE records a flat image\n"
        "under KVM from its first instruction.\n"
        "Exits with CMD's status, or 124/125/126 as 'krr run' does.";
    spec.options = guest_run_option_specs();
    spec.options.insert(spec.options.begin(),
                        {"output", 'o', "TRACE", "the trace directory to create (must not exist)"});
    spec.options.push_back({"seed", 0, "S",
                            "vary the run: hold interrupts back and, with --smp, vary the "
                            "vCPUs' turns by amounts drawn from S (replay does not need it)"});
    spec.takes_command = true;
    // A flat image (--boot flat, recorded under KVM) takes no command.
    spec.requires_command = false;
    spec.run = [](const ParsedArgs& args) {
        auto output = args.get("output");
        if (!output) {
            throw Error("record", "-o TRACE is required");
        }
        std::error_code ec;
        if (std::filesystem::exists(*output, ec)) {
            throw Error("record: " + *output, "already exists; choose a new trace directory");
        }
        GuestRunOptions options = guest_run_options(args);
        if (options.image.command.empty() && !options.flat_boot) {
            throw Error("record", "no guest command given (usage: krr record " +
                                      std::string("-o TRACE [machine options] -- CMD [ARGS])"));
        }
        options.record_path = *output;
        if (auto seed = args.get_u64("seed")) {
            options.interrupt_jitter_seed = *seed;
        }
        // Progress on a terminal, when the console is not going to it too.
        if (isatty(STDERR_FILENO) && !isatty(STDOUT_FILENO)) {
            options.progress = [](uint64_t instructions, bool recording) {
                std::fprintf(stderr, "\rkrr: record: %s, %llu instructions ",
                             recording ? "recording" : "booting",
                             static_cast<unsigned long long>(instructions));
            };
        }
        GuestRunResult r = run_guest_on_console(options, args, "record");
        if (options.progress) {
            std::fputc('\n', stderr);
        }
        if (!r.recorded) {
            exit_status_for(r, "record");
            throw Error("record", "the guest never started the command, so nothing was recorded");
        }
        if (options.accel == "kvm") {
            // KVM counts no instructions: replay (or krr resolve) finds them.
            std::fprintf(stderr,
                         "krr: record: %s: %llu inputs, %llu log bytes, recorded under KVM "
                         "(instruction counts are found on first replay, or by krr resolve); "
                         "%s\n",
                         output->c_str(), static_cast<unsigned long long>(r.recorded_inputs),
                         static_cast<unsigned long long>(r.trace_log_bytes), ending_name(r.ending));
            return exit_status_for(r, "record");
        }
        std::fprintf(stderr,
                     "krr: record: %s: %llu instructions, %llu inputs, %llu log bytes; %s\n",
                     output->c_str(), static_cast<unsigned long long>(r.recorded_instructions),
                     static_cast<unsigned long long>(r.recorded_inputs),
                     static_cast<unsigned long long>(r.trace_log_bytes), ending_name(r.ending));
        return exit_status_for(r, "record");
    };
    return spec;
}

} // namespace krr::cli
