// krr run [machine options] [-- CMD [ARGS]]: boot a guest, run CMD, no recording.
#include "cli/commands.h"
#include "cli/guest_options.h"

#include <cstdio>

namespace krr::cli {

CommandSpec run_command() {
    CommandSpec spec;
    spec.name = "run";
    spec.usage = "[machine options] [-- CMD [ARGS]]";
    spec.summary = "boot a guest and run CMD in it (no recording)";
    spec.description =
        "Boots the kernel (default: the Debian kernel set-up provisioned) with an initramfs\n"
        "holding busybox and CMD, prints the guest console, and exits with CMD's status.\n"
        "Other endings exit with 124 (timeout, limit, Ctrl-C), 125 (kernel panic, reset,\n"
        "hang) or 126 (the emulator met something it cannot execute).";
    spec.options = guest_run_option_specs();
    spec.options.push_back(
        {"print-command-line", 0, "", "print the kernel command line krr would use, and exit"});
    spec.takes_command = true;
    spec.run = [](const ParsedArgs& args) {
        GuestRunOptions options = guest_run_options(args);
        if (args.has("print-command-line")) {
            std::string line = default_kernel_command_line();
            if (!options.append.empty()) {
                line += " " + options.append;
            }
            std::printf("%s\n", line.c_str());
            return 0;
        }
        return exit_status_for(run_guest_on_console(options, args, "run"), "run");
    };
    return spec;
}

} // namespace krr::cli
