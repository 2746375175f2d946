#include "cli/guest_options.h"

#include "guest-model/error.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <termios.h>
#include <unistd.h>

namespace krr::cli {

namespace {

std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
    g_interrupted = true;
}

} // namespace

GuestRunOptions guest_run_options(const ParsedArgs& args) {
    GuestRunOptions o;
    o.image.command = args.command;
    o.image.file_specs = args.all("file");
    o.image.modules = args.all("module");
    o.image.kernel = args.get("kernel");
    o.initrd = args.get("initrd");
    if (o.initrd &&
        (!o.image.file_specs.empty() || !o.image.modules.empty() || !o.image.command.empty())) {
        throw Error("--initrd", "cannot be combined with --file, --module or a command: the "
                                "initramfs is used as it is");
    }
    o.append = args.get("append").value_or("");
    if (auto mem = args.get_u64("mem", true)) {
        // Bare numbers are MiB, as in QEMU.
        uint64_t bytes = *mem < (1ULL << 20) ? *mem << 20 : *mem;
        if (bytes < (64ULL << 20) || bytes > (3ULL << 30)) {
            throw Error("--mem", "must be between 64M and 3G");
        }
        o.memory_bytes = bytes;
    }
    if (auto smp = args.get_u64("smp")) {
        if (*smp < 1 || *smp > 8) {
            throw Error("--smp", "must be between 1 and 8");
        }
        o.vcpus = static_cast<unsigned>(*smp);
    }
    if (auto accel = args.get("accel")) {
        if (*accel != "tcg" && *accel != "kvm") {
            throw Error("--accel", "'" + *accel + "' is not an accelerator (tcg or kvm)");
        }
        o.accel = *accel;
    }
    if (auto boot = args.get("boot")) {
        if (*boot != "linux" && *boot != "flat") {
            throw Error("--boot", "'" + *boot + "' is not a way to boot (linux or flat)");
        }
        o.flat_boot = *boot == "flat";
    }
    o.max_instructions = args.get_u64("max-instructions").value_or(0);
    if (auto t = args.get_u64("timeout")) {
        o.timeout_seconds = static_cast<double>(*t);
    }
    o.debug_log = args.has("debug");
    o.profile = args.has("profile");
    return o;
}

std::vector<OptionSpec> guest_run_option_specs() {
    auto options = machine_options();
    options.push_back({"max-instructions", 0, "N", "stop after N instructions"});
    options.push_back({"boot", 0, "linux|flat",
                       "flat: --kernel is a flat x86-64 image entered in long mode at 1 MiB "
                       "(docs/kvm.md)"});
    options.push_back({"timeout", 0, "SECONDS", "stop after this much wall-clock time"});
    options.push_back({"stats", 0, "", "print instructions and speed when the run ends"});
    options.push_back({"debug", 0, "", "log device and loader details to stderr"});
    options.push_back({"profile", 0, "", "print the guest functions that ran most (System.map)"});
    return options;
}

GuestRunResult run_guest_on_console(const GuestRunOptions& given, const ParsedArgs& args,
                                    const char* command) {
    std::signal(SIGINT, on_sigint);
    // What is typed goes to the guest's console. On a terminal, the guest's
    // tty echoes it, so the local echo is turned off for the run (lines are
    // still sent on Enter, and Ctrl-C still stops krr).
    GuestRunOptions options = given;
    options.console_input_fd = STDIN_FILENO;
    struct TerminalEcho {
        bool saved = false;
        termios original{};
        TerminalEcho() {
            if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &original) == 0) {
                termios quiet = original;
                quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
                saved = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
            }
        }
        ~TerminalEcho() {
            if (saved) {
                tcsetattr(STDIN_FILENO, TCSANOW, &original);
            }
        }
    } echo_off;
    auto console = [](uint8_t byte) {
        std::fputc(byte, stdout);
        if (byte == '\n') {
            std::fflush(stdout);
        }
    };
    GuestRunResult r = run_guest(options, console, &g_interrupted);
    std::fflush(stdout);
    // Under KVM nothing counts instructions: its line gives the exits.
    const bool under_kvm = !r.kvm_exits.empty();
    if (args.has("stats") && !under_kvm) {
        std::fprintf(stderr, "krr: %s: %llu instructions in %.2f s (%.1f MIPS)\n", command,
                     static_cast<unsigned long long>(r.instructions), r.seconds,
                     r.seconds > 0 ? static_cast<double>(r.instructions) / r.seconds / 1e6 : 0.0);
    }
    if (args.has("stats") && under_kvm) {
        std::fprintf(stderr, "krr: %s: %.2f s under KVM; exits per second (count):", command,
                     r.seconds);
        for (const auto& [kind, count] : r.kvm_exits) {
            std::fprintf(stderr, " %s %.0f (%llu)%s", kind.c_str(),
                         r.seconds > 0 ? static_cast<double>(count) / r.seconds : 0.0,
                         static_cast<unsigned long long>(count),
                         &kind == &r.kvm_exits.back().first ? "\n" : ",");
        }
    }
    if ((args.has("stats") && !under_kvm) || args.has("profile")) {
        std::fprintf(stderr, "krr: %s: %llu instructions retired, %llu skipped while halted\n",
                     command, static_cast<unsigned long long>(r.instructions),
                     static_cast<unsigned long long>(r.halted_instructions));
    }
    if (args.has("profile")) {
        size_t shown = 0;
        for (const auto& [name, count] : r.profile) {
            if (shown++ == 30) {
                break;
            }
            std::fprintf(stderr, "  %6.2f%%  %12llu  %s\n",
                         r.instructions ? 100.0 * static_cast<double>(count) /
                                              static_cast<double>(r.instructions)
                                        : 0.0,
                         static_cast<unsigned long long>(count), name.c_str());
        }
    }
    return r;
}

int exit_status_for(const GuestRunResult& r, const char* command) {
    using E = GuestRunResult::Ending;
    switch (r.ending) {
    case E::CommandExited:
        return r.exit_status;
    case E::PoweredOff:
        std::fprintf(stderr, "krr: %s: %s\n", command, r.message.c_str());
        return kStatusGuestCrashed;
    case E::InstructionLimit:
    case E::Timeout:
    case E::Interrupted:
        std::fprintf(stderr, "krr: %s: %s after %llu instructions\n", command, r.message.c_str(),
                     static_cast<unsigned long long>(r.instructions));
        return kStatusNotFinished;
    case E::EmulatorLimit:
        std::fprintf(stderr, "krr: %s: the emulator stopped after %llu instructions: %s\n", command,
                     static_cast<unsigned long long>(r.instructions), r.message.c_str());
        return kStatusEmulator;
    default:
        std::fprintf(stderr, "krr: %s: %s: %s\n", command, ending_name(r.ending),
                     r.message.c_str());
        return kStatusGuestCrashed;
    }
}

} // namespace krr::cli
