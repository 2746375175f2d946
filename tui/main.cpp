// krr-tui TRACE [--system-map FILE] [--vmlinux FILE]: the terminal
// timeline browser. Opens (or builds) the trace's activity index, with a
// progress bar on stderr, then hands the terminal to the screen until `q`.
#include "activity/activity_indexer.h"
#include "guest-model/error.h"
#include "guest-model/symbols.h"
#include "guest-model/trace/trace_reader.h"
#include "tui/event_detail.h"
#include "tui/timeline_screen.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>

namespace {

void progress_bar(uint64_t done, uint64_t total) {
    const int width = 40;
    int filled = total ? static_cast<int>(done * width / total) : width;
    std::fprintf(stderr, "\rkrr-tui: indexing [%-*.*s] %3d%%", width, filled,
                 "########################################",
                 total ? static_cast<int>(done * 100 / total) : 100);
    if (done >= total) {
        std::fprintf(stderr, "\n");
    }
    std::fflush(stderr);
}

constexpr const char* kUsage = "krr-tui TRACE [--system-map FILE] [--vmlinux FILE]";

struct Arguments {
    std::string trace;
    std::optional<std::string> system_map;
    std::optional<std::string> vmlinux;
    bool help = false;
};

// Throws krr::Error("<what>", why); the caller prefixes "krr-tui: ".
Arguments parse_arguments(int argc, char** argv) {
    Arguments args;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            args.help = true;
            continue;
        }
        if (arg.rfind("--", 0) != 0 || arg == "--") {
            if (!args.trace.empty()) {
                throw krr::Error(arg, std::string("one trace at a time (usage: ") + kUsage + ")");
            }
            args.trace = arg;
            continue;
        }
        std::string name = arg;
        std::optional<std::string> value;
        if (auto eq = arg.find('='); eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        }
        if (name != "--system-map" && name != "--vmlinux") {
            throw krr::Error(name, std::string("unknown option (usage: ") + kUsage + ")");
        }
        if (!value) {
            if (i + 1 >= argc) {
                throw krr::Error(name, "needs a FILE");
            }
            value = argv[++i];
        }
        // An explicitly named file must be there: a typo would otherwise
        // quietly give a timeline without kernel entries or source lines.
        std::ifstream file(*value, std::ios::binary);
        if (value->empty() || !file || std::filesystem::is_directory(*value)) {
            throw krr::Error(name + " " + *value, "cannot read it");
        }
        (name == "--system-map" ? args.system_map : args.vmlinux) = *value;
    }
    if (!args.help && args.trace.empty()) {
        throw krr::Error("usage", kUsage);
    }
    return args;
}

int browse(const Arguments& args) {
    krr::trace::TraceReader reader(args.trace);
    krr::activity::IndexerOptions options;
    // Files named on the command line, the rest beside the trace's kernel
    // (a trace moved to another machine names its kernel's files).
    options.kernel = krr::activity::kernel_files_beside(reader.metadata());
    options.kernel.system_map = args.system_map.value_or(options.kernel.system_map);
    options.kernel.vmlinux = args.vmlinux.value_or(options.kernel.vmlinux);
    if (isatty(STDERR_FILENO)) {
        options.progress = progress_bar;
    }
    krr::activity::OpenedIndex opened = krr::activity::open_activity_index(args.trace, options);
    // Without a System.map addresses are shown bare (the index notes it).
    krr::SymbolTable symbols = krr::SymbolTable::parse("", "no symbols");
    try {
        symbols = krr::SymbolTable::load(options.kernel.system_map);
    } catch (const krr::Error&) {
    }
    krr::tui::DetailSource details(args.trace, std::move(symbols), options.kernel.vmlinux);
    krr::tui::TimelineScreen screen({args.trace, options.kernel.vmlinux}, opened.index, details);
    for (const auto& line : screen.run()) {
        std::printf("%s\n", line.c_str());
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    Arguments args;
    try {
        args = parse_arguments(argc, argv);
    } catch (const krr::Error& e) {
        std::fprintf(stderr, "krr-tui: %s\n", e.what());
        return 2;
    }
    if (args.help) {
        std::printf("usage: %s\n\nBrowse a recorded trace as a timeline of what the kernel did "
                    "(press ? inside for the keys).\n\n"
                    "  --system-map FILE  the kernel's System.map (default: beside the trace's "
                    "kernel)\n"
                    "  --vmlinux FILE     the kernel's vmlinux, for source lines and gdb "
                    "(default: beside it)\n",
                    kUsage);
        return 0;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        std::fprintf(stderr, "krr-tui: needs a terminal; use 'krr timeline %s' in scripts\n",
                     args.trace.c_str());
        return 2;
    }
    try {
        return browse(args);
    } catch (const krr::Error& e) {
        std::fprintf(stderr, "krr-tui: %s\n", e.what());
        return 1;
    }
}
