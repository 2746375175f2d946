// The ncurses front of krr-tui: lays the panes out for the terminal's size
// (header, timeline strip, event list, detail, console, status line), reads
// keys and turns them into TimelineBrowser moves, and shows each selected
// event's detail once the keyboard is idle.
#pragma once

#include "activity/activity_index.h"
#include "tui/event_detail.h"
#include "tui/timeline_browser.h"

#include <string>
#include <vector>

namespace krr::tui {

struct ScreenContext {
    std::string trace_path;
    std::string vmlinux; // for the gdb command
};

class TimelineScreen {
public:
    TimelineScreen(ScreenContext context, const activity::ActivityIndex& index,
                   DetailSource& details);
    // Until `q`. Returns what to print once the terminal is back to normal
    // (the gdb commands last shown with `o`, a started server's pid).
    std::vector<std::string> run();

private:
    struct Layout;
    Layout layout() const;
    void draw();
    void draw_header(const Layout& l);
    void draw_strip(const Layout& l);
    std::vector<activity::EventKind> shown_kinds() const;
    void draw_list(const Layout& l);
    void draw_detail(const Layout& l);
    void draw_console(const Layout& l);
    void draw_status(const Layout& l);
    bool handle(int key); // false: quit
    std::string prompt(const std::string& question);
    void popup(const std::vector<std::string>& text);
    void show_help();
    void open_gdb();
    void refresh_detail();

    ScreenContext context_;
    const activity::ActivityIndex& index_;
    DetailSource& details_;
    TimelineBrowser browser_;
    size_t top_ = 0; // first list row shown
    const activity::ActivityEvent* detail_for_ = nullptr;
    EventDetail detail_;
    std::string message_;
    bool colour_ = false;
    // A trace of several vCPUs: rows and the detail title name the vCPU.
    bool several_vcpus_ = false;
    std::vector<std::string> farewell_;
};

} // namespace krr::tui
