// What `krr run` and `krr record` share: their flags, turning them into
// GuestRunOptions, running the guest with the console on stdout and Ctrl-C
// wired, and mapping how the run ended to krr's exit status.
#pragma once

#include "cli/option_parser.h"
#include "recorder/guest_run.h"

namespace krr::cli {

// Exit statuses beyond the command's own 0-255.
inline constexpr int kStatusNotFinished = 124;  // timeout, instruction limit, Ctrl-C
inline constexpr int kStatusGuestCrashed = 125; // panic, reset, hang
inline constexpr int kStatusEmulator = 126;     // the emulator cannot go on

std::vector<OptionSpec> guest_run_option_specs();
GuestRunOptions guest_run_options(const ParsedArgs& args);

// Runs the guest with its console on stdout; prints --stats/--profile output.
GuestRunResult run_guest_on_console(const GuestRunOptions& options, const ParsedArgs& args,
                                    const char* command);

// The exit status for how the run ended, printing the reason to stderr as
// "krr: <command>: ..." when it is not the command's own status.
int exit_status_for(const GuestRunResult& result, const char* command);

} // namespace krr::cli
