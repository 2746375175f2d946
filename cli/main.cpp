// krr: the command-line front end. It only dispatches; each command lives in
// cmd_<name>.cpp and the libraries do the work.
#include "cli/commands.h"
#include "guest-model/error.h"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

void print_main_help(const std::vector<krr::cli::CommandSpec>& commands) {
    std::printf("usage: krr <command> [options] [-- CMD [ARGS]]\n\n"
                "krr records a Linux guest running a command and replays it exactly.\n\n"
                "commands:\n");
    for (const auto& c : commands) {
        std::printf("  %-12s %s\n", c.name.c_str(), c.summary.c_str());
    }
    std::printf("\n'krr <command> --help' describes a command. 'krr --version' prints the "
                "version.\n");
}

bool wants_help(const std::vector<std::string>& args) {
    for (const auto& a : args) {
        if (a == "--") {
            return false;
        }
        if (a == "-h" || a == "--help") {
            return true;
        }
    }
    return false;
}

} // namespace

int main(int argc, char** argv) {
    auto commands = krr::cli::all_commands();
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        print_main_help(commands);
        return 2;
    }
    const std::string name = args[0];
    if (name == "-h" || name == "--help" || name == "help") {
        print_main_help(commands);
        return 0;
    }
    if (name == "--version") {
        std::printf("krr %s\n", KRR_VERSION);
        return 0;
    }
    for (const auto& c : commands) {
        if (c.name != name) {
            continue;
        }
        std::vector<std::string> rest(args.begin() + 1, args.end());
        if (wants_help(rest)) {
            std::fputs(krr::cli::command_help(c).c_str(), stdout);
            return 0;
        }
        try {
            return c.run(krr::cli::parse_args(c, rest));
        } catch (const krr::Error& e) {
            std::fprintf(stderr, "krr: %s\n", e.what());
            return 1;
        } catch (const std::bad_alloc&) {
            std::fprintf(stderr, "krr: %s: out of memory\n", name.c_str());
            return 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "krr: %s: internal error: %s\n", name.c_str(), e.what());
            return 70;
        }
    }
    std::fprintf(stderr, "krr: unknown command '%s' (see 'krr --help')\n", name.c_str());
    return 2;
}
