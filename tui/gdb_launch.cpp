#include "tui/gdb_launch.h"

#include "guest-model/error.h"

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>
#include <vector>

namespace krr::tui {

std::string shell_quote(const std::string& word) {
    if (!word.empty() &&
        word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_-./:=+,@%") == std::string::npos) {
        return word;
    }
    std::string out = "'";
    for (char c : word) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

GdbCommands gdb_commands(const std::string& trace_path, uint64_t count,
                         const std::string& vmlinux) {
    const std::string port = std::string(kGdbListen).substr(std::string(kGdbListen).find(':'));
    return {"krr gdbserver " + shell_quote(trace_path) + " --at " + std::to_string(count),
            "gdb -ex 'target remote " + port + "' " + shell_quote(vmlinux)};
}

std::string krr_beside_self() {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        auto krr = self.parent_path() / "krr";
        if (access(krr.c_str(), X_OK) == 0) {
            return krr.string();
        }
    }
    return "krr";
}

StartedServer start_gdbserver(const std::string& krr, const std::string& trace_path,
                              uint64_t count) {
    StartedServer started;
    std::string log_template = "/tmp/krr-tui-gdbserver-XXXXXX";
    int log = mkstemp(log_template.data());
    if (log < 0) {
        throw Error("gdbserver: log file", errno_text(errno));
    }
    started.log = log_template;
    std::vector<std::string> argv = {
        krr, "gdbserver", trace_path, "--at", std::to_string(count), "--listen", kGdbListen};
    std::vector<char*> args;
    for (auto& a : argv) {
        args.push_back(a.data());
    }
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(log);
        throw Error("gdbserver", "fork: " + errno_text(err));
    }
    if (pid == 0) {
        setsid();
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        execvp(args[0], args.data());
        _exit(127);
    }
    close(log);
    started.pid = pid;
    return started;
}

} // namespace krr::tui
