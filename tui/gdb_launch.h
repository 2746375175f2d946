// The `o` key: the two commands that open gdb at an event's instruction
// count, and starting the first of them as a child process on request.
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>

namespace krr::tui {

inline constexpr const char* kGdbListen = "127.0.0.1:1234";

struct GdbCommands {
    std::string server; // krr gdbserver TRACE --at COUNT
    std::string gdb;    // gdb -ex 'target remote :1234' VMLINUX
};
GdbCommands gdb_commands(const std::string& trace_path, uint64_t count, const std::string& vmlinux);

// The krr executable installed beside krr-tui, else "krr" from PATH.
std::string krr_beside_self();

struct StartedServer {
    pid_t pid = 0;
    std::string log; // where its output goes
};
// Starts `krr gdbserver TRACE --at COUNT --listen 127.0.0.1:1234` in its own
// session (it outlives krr-tui, for gdb to attach), output to a log file.
// Throws krr::Error when it cannot be started.
StartedServer start_gdbserver(const std::string& krr, const std::string& trace_path,
                              uint64_t count);

// A word as a POSIX shell reads it back.
std::string shell_quote(const std::string& word);

} // namespace krr::tui
