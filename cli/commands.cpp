#include "cli/commands.h"

namespace krr::cli {

// Factories, one per cmd_<name>.cpp.

std::vector<CommandSpec> all_commands() {
    return {
    };
}

} // namespace krr::cli
