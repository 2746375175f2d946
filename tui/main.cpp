// krr-tui TRACE: the terminal timeline browser. Opens (or builds) the
// trace's activity index, with a progress bar on stderr, then hands the
// terminal to the screen until `q`.
#include "activity/activity_indexer.h"
#include "guest-model/error.h"
#include "guest-model/symbols.h"
#include "guest-model/trace/trace_reader.h"
#include "tui/event_detail.h"
#include "tui/timeline_screen.h"

#include <cstdio>
#include <cstring>
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

int browse(const std::string& trace_path) {
    krr::trace::TraceReader reader(trace_path);
    krr::activity::IndexerOptions options;
    options.kernel = krr::activity::kernel_files_beside(reader.metadata());
    if (isatty(STDERR_FILENO)) {
        options.progress = progress_bar;
    }
    krr::activity::OpenedIndex opened = krr::activity::open_activity_index(trace_path, options);
    // Without a System.map addresses are shown bare (the index notes it).
    krr::SymbolTable symbols = krr::SymbolTable::parse("", "no symbols");
    try {
        symbols = krr::SymbolTable::load(options.kernel.system_map);
    } catch (const krr::Error&) {
    }
    krr::tui::DetailSource details(trace_path, std::move(symbols), options.kernel.vmlinux);
    krr::tui::TimelineScreen screen({trace_path, options.kernel.vmlinux}, opened.index, details);
    for (const auto& line : screen.run()) {
        std::printf("%s\n", line.c_str());
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::printf("usage: krr-tui TRACE\n\nBrowse a recorded trace as a timeline of what the "
                    "kernel did (press ? inside for the keys).\n");
        return 0;
    }
    if (argc != 2) {
        std::fprintf(stderr, "krr-tui: usage: krr-tui TRACE\n");
        return 2;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        std::fprintf(stderr, "krr-tui: needs a terminal; use 'krr timeline %s' in scripts\n",
                     argv[1]);
        return 2;
    }
    try {
        return browse(argv[1]);
    } catch (const krr::Error& e) {
        std::fprintf(stderr, "krr-tui: %s\n", e.what());
        return 1;
    }
}
