// krr kernel build [--profile syzbot|debug] [--jobs N]: builds a guest kernel
// from Debian's linux-source-6.1 with the project's config fragments. The work
// is kernel/build-kernel's (a shell script: it is a make pipeline); this
// command finds it in krr's source tree, checks the arguments and runs it.
#include "cli/commands.h"
#include "guest-model/error.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace krr::cli {

namespace {

// Where kernel/ lives: the source tree krr was built from, unless
// $KRR_SOURCE_ROOT names another (an installed krr next to a checkout).
std::string build_script_path() {
    const char* root = std::getenv("KRR_SOURCE_ROOT");
    std::string dir = root != nullptr && *root != '\0' ? root : KRR_SOURCE_ROOT;
    std::string script = dir + "/kernel/build-kernel";
    if (::access(script.c_str(), X_OK) != 0) {
        throw Error("kernel build: " + script, std::string(std::strerror(errno)) +
                                                   " (set KRR_SOURCE_ROOT to a krr source tree)");
    }
    return script;
}

int run_and_wait(const std::vector<std::string>& argv) {
    std::vector<char*> raw;
    for (const auto& a : argv) {
        raw.push_back(const_cast<char*>(a.c_str()));
    }
    raw.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
        throw Error("kernel build", std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        ::execv(raw[0], raw.data());
        std::fprintf(stderr, "krr: kernel build: %s: %s\n", raw[0], std::strerror(errno));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            throw Error("kernel build", std::string("waitpid: ") + std::strerror(errno));
        }
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return 128 + WTERMSIG(status);
}

} // namespace

CommandSpec kernel_command() {
    CommandSpec spec;
    spec.name = "kernel";
    spec.usage = "build [--profile syzbot|debug] [--jobs N]";
    spec.summary = "build a guest kernel with KASAN, lockdep and DWARF from Debian's source";
    spec.description =
        "'krr kernel build' downloads Debian's linux-source-6.1 (apt-get download; nothing\n"
        "is installed), configures a small kernel for krr's machine from kernel/configs/\n"
        "and builds it at nice 19. It installs vmlinuz, vmlinux (with DWARF), System.map,\n"
        "config and the module build tree under $KRR_CACHE/kernels/PROFILE-6.1.N, with\n"
        "the link $KRR_CACHE/kernels/PROFILE that '--kernel PROFILE' boots.\n"
        "Profiles: syzbot (KASAN, KCOV, lockdep, hung-task and soft-lockup panics;\n"
        "the default) and debug (the same without KASAN, KCOV and lockdep).\n"
        "See docs/kernel-build.md.";
    spec.options.push_back({"profile", 0, "NAME", "syzbot (default) or debug"});
    spec.options.push_back({"jobs", 'j', "N", "parallel compile jobs (default 2)"});
    spec.min_positional = 1;
    spec.max_positional = 1;
    spec.run = [](const ParsedArgs& args) {
        if (args.positional[0] != "build") {
            throw Error("kernel", "unknown subcommand '" + args.positional[0] +
                                      "' (the only one is 'build')");
        }
        std::string profile = args.get("profile").value_or("syzbot");
        if (profile != "syzbot" && profile != "debug") {
            throw Error("kernel build: --profile", "'" + profile + "' is not syzbot or debug");
        }
        uint64_t jobs = args.get_u64("jobs").value_or(2);
        if (jobs == 0 || jobs > 256) {
            throw Error("kernel build: --jobs", "must be between 1 and 256");
        }
        int status = run_and_wait(
            {build_script_path(), "--profile", profile, "--jobs", std::to_string(jobs)});
        if (status != 0) {
            throw Error("kernel build", "kernel/build-kernel failed with exit status " +
                                            std::to_string(status) + " (its message is above)");
        }
        return 0;
    };
    return spec;
}

} // namespace krr::cli
