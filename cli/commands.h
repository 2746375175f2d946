// Every `krr` command, one factory per file (cmd_<name>.cpp).
#pragma once

#include "cli/option_parser.h"

#include <vector>

namespace krr::cli {

// The list `krr --help` shows, in the order users meet the commands.
std::vector<CommandSpec> all_commands();

} // namespace krr::cli
