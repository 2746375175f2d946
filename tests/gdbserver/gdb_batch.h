// Runs Debian's gdb in batch mode for the tests that check krr against it.
#pragma once

#include <string>
#include <vector>

namespace krr::gdb::testing {

struct GdbRun {
    int exit_status = -1;
    std::string output; // stdout and stderr together
};

// `gdb -nx -batch` with each command as an -ex argument.
GdbRun run_gdb_batch(const std::vector<std::string>& commands);

} // namespace krr::gdb::testing
