#include "tests/gdbserver/gdb_batch.h"

#include <cstdio>
#include <sys/wait.h>

namespace krr::gdb::testing {

namespace {

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out.push_back(c);
        }
    }
    return out + "'";
}

} // namespace

GdbRun run_gdb_batch(const std::vector<std::string>& commands) {
    std::string command = "gdb -nx -batch";
    for (const std::string& c : commands) {
        command += " -ex " + shell_quote(c);
    }
    command += " 2>&1 </dev/null";
    GdbRun run;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return run;
    }
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
        run.output.append(buffer, n);
    }
    const int status = ::pclose(pipe);
    run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

} // namespace krr::gdb::testing
