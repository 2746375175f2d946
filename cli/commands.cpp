#include "cli/commands.h"

namespace krr::cli {

// Factories, one per cmd_<name>.cpp.
CommandSpec run_command();
CommandSpec record_command();
CommandSpec replay_command();
CommandSpec resolve_command();
CommandSpec info_command();
CommandSpec image_command();
CommandSpec repro_command();
CommandSpec timeline_command();
CommandSpec gdbserver_command();
CommandSpec kernel_command();

std::vector<CommandSpec> all_commands() {
    return {
        run_command(),
        record_command(),
        replay_command(),
        resolve_command(),
        info_command(),
        image_command(),
        repro_command(),
        timeline_command(),
        gdbserver_command(),
        kernel_command(),
    };
}

} // namespace krr::cli
