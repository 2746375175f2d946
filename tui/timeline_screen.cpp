#include "tui/timeline_screen.h"

#include "activity/activity_indexer.h"
#include "guest-model/error.h"
#include "tui/gdb_launch.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ncurses.h>

namespace krr::tui {

using activity::ActivityEvent;
using activity::EventKind;

namespace {

constexpr int kMinColumns = 60;
constexpr int kMinLines = 20;
constexpr int kPerKindLines = 40;
constexpr short kHeaderPair = 20;
constexpr short kSelectedPair = 21;

std::string hex(uint64_t v, int width = 16) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*llx", width, static_cast<unsigned long long>(v));
    return buf;
}

// Guest text, made safe and fitted to `width` columns.
std::string fit(const std::string& s, int width) {
    std::string out;
    for (unsigned char c : s) {
        if (static_cast<int>(out.size()) >= width) {
            break;
        }
        out += c == '\t' ? ' ' : (c < 0x20 || c >= 0x7f ? '?' : static_cast<char>(c));
    }
    return out;
}

void put(int y, int x, const std::string& s, int width) {
    if (width > 0) {
        mvaddnstr(y, x, fit(s, width).c_str(), width);
    }
}

short pair_of(EventKind kind) {
    return static_cast<short>(kind);
}

// Which kind a strip column shows when several share it: the rarer and the
// more telling first.
int rank(EventKind kind) {
    switch (kind) {
    case EventKind::Crash:
        return 0;
    case EventKind::Exception:
        return 1;
    case EventKind::PageFault:
        return 2;
    case EventKind::Syscall:
        return 3;
    case EventKind::ContextSwitch:
        return 4;
    case EventKind::Interrupt:
        return 5;
    case EventKind::Console:
        return 6;
    case EventKind::Input:
        return 7;
    }
    return 8;
}

std::vector<std::string> console_lines(const std::string& text) {
    std::vector<std::string> lines(1);
    for (char c : text) {
        if (c == '\n') {
            lines.emplace_back();
        } else if (c != '\r') {
            lines.back().push_back(c);
        }
    }
    if (lines.back().empty()) {
        lines.pop_back();
    }
    return lines;
}

// A DWARF file name from the kernel tree's top-level directory on: the
// build's own prefix ("/build/.../debian/build/...") says nothing.
std::string short_source_path(const std::string& path) {
    static const char* const kTop[] = {"/arch/",    "/kernel/", "/mm/",   "/fs/",    "/drivers/",
                                       "/include/", "/net/",    "/lib/",  "/block/", "/security/",
                                       "/crypto/",  "/ipc/",    "/init/", "/sound/", "/virt/"};
    size_t cut = std::string::npos;
    for (const char* top : kTop) {
        cut = std::min(cut, path.find(top));
    }
    return cut == std::string::npos ? path : path.substr(cut + 1);
}

std::set<EventKind> default_filter() {
    std::set<EventKind> kinds;
    for (EventKind k : activity::all_event_kinds()) {
        if (k != EventKind::Input) {
            kinds.insert(k);
        }
    }
    return kinds;
}

} // namespace

struct TimelineScreen::Layout {
    int lines = 0;
    int columns = 0;
    bool too_small = false;
    int strip = 1;         // first strip row; its last row holds the cursor
    int strip_rows = 3;    // kind letters, density, cursor; or a row per kind, cursor
    bool per_kind = false; // tall terminals: one density row per kind shown
    int list = 4;          // first row of the event list
    int list_rows = 0;
    int detail = 0;      // the detail pane's title row
    int detail_rows = 0; // rows below the title
    int console = 0;     // the console pane's title row
    int console_rows = 0;
    int status = 0;
};

TimelineScreen::TimelineScreen(ScreenContext context, const activity::ActivityIndex& index,
                               DetailSource& details)
    : context_(std::move(context)), index_(index), details_(details), browser_(index) {
    // The logged inputs (mostly UART status reads, one per console byte)
    // outnumber everything else; they are one `f` away.
    browser_.set_filter(default_filter());
    for (const auto& e : index_.events) {
        several_vcpus_ = several_vcpus_ || e.vcpu != 0;
    }
    for (const auto& note : index_.notes) {
        message_ += (message_.empty() ? "note: " : "; ") + note;
    }
}

TimelineScreen::Layout TimelineScreen::layout() const {
    Layout l;
    getmaxyx(stdscr, l.lines, l.columns);
    l.too_small = l.lines < kMinLines || l.columns < kMinColumns;
    l.status = l.lines - 1;
    // From 40 lines the strip has a density row per kind shown.
    l.per_kind = l.lines >= kPerKindLines;
    if (l.per_kind) {
        l.strip_rows = static_cast<int>(shown_kinds().size()) + 1;
    }
    l.list = l.strip + l.strip_rows;
    // Fixed: header, the strip, 2 pane titles, status line.
    const int free = l.lines - 4 - l.strip_rows;
    l.detail_rows = std::clamp(free * 35 / 100, 5, 12);
    l.console_rows = std::clamp(free * 25 / 100, 3, 12);
    l.list_rows = free - l.detail_rows - l.console_rows;
    l.detail = l.list + l.list_rows;
    l.console = l.detail + 1 + l.detail_rows;
    return l;
}

void TimelineScreen::draw_header(const Layout& l) {
    const ActivityEvent* e = browser_.selected();
    std::string filter = "all";
    if (browser_.filter() == default_filter()) {
        filter = "all but input";
    } else if (!browser_.filter().empty()) {
        filter.clear();
        for (EventKind k : browser_.filter()) {
            filter += (filter.empty() ? "" : ",") + std::string(activity::event_kind_name(k));
        }
    }
    // The path last: it is what gets cut on a narrow terminal.
    std::string text =
        "krr-tui  event " +
        std::to_string(browser_.visible().empty() ? 0 : browser_.selected_row() + 1) + "/" +
        std::to_string(browser_.visible().size()) + "  count " +
        (e ? std::to_string(e->position.instructions) : "-") + "  [" + filter + "]  " +
        context_.trace_path;
    if (colour_) {
        attron(COLOR_PAIR(kHeaderPair));
    } else {
        attron(A_REVERSE);
    }
    mvhline(0, 0, ' ', l.columns);
    put(0, 0, text, l.columns);
    attroff(COLOR_PAIR(kHeaderPair) | A_REVERSE);
}

std::vector<EventKind> TimelineScreen::shown_kinds() const {
    std::vector<EventKind> kinds;
    for (EventKind k : activity::all_event_kinds()) {
        if (browser_.filter().empty() || browser_.filter().count(k)) {
            kinds.push_back(k);
        }
    }
    return kinds;
}

void TimelineScreen::draw_strip(const Layout& l) {
    // Per-kind rows carry a two-column label ("s ") before the axis.
    const int x0 = l.per_kind ? 2 : 0;
    const int width = l.columns - x0;
    const uint64_t start = index_.start_instruction;
    const uint64_t span = std::max<uint64_t>(1, index_.end_instruction - start);
    auto column_of = [&](uint64_t count) {
        uint64_t c = (count - std::min(count, start)) * static_cast<uint64_t>(width - 1) / span;
        return static_cast<int>(std::min<uint64_t>(c, static_cast<uint64_t>(width - 1)));
    };
    using Counts = std::array<uint32_t, activity::kLastEventKind + 1>;
    std::vector<Counts> counts(static_cast<size_t>(width));
    Counts most_of_kind{};
    for (size_t i : browser_.visible()) {
        const ActivityEvent& e = index_.events[i];
        const auto k = static_cast<size_t>(e.kind);
        uint32_t& n = counts[static_cast<size_t>(column_of(e.position.instructions))][k];
        most_of_kind[k] = std::max(most_of_kind[k], ++n);
    }
    static const char kDensity[] = " .:-=+*#";
    // Density on a log-like scale against the busiest column, so sparse
    // columns still show.
    auto level_of = [](uint32_t n, uint32_t most) {
        int level = 0;
        if (n) {
            level = 1;
            while (level < 7 && (uint64_t{n} << (7 - level)) > most) {
                ++level;
            }
        }
        return kDensity[level];
    };
    const int cursor_row = l.strip + l.strip_rows - 1;
    if (l.per_kind) {
        int y = l.strip;
        for (EventKind k : shown_kinds()) {
            mvhline(y, 0, ' ', l.columns);
            if (colour_) {
                attron(COLOR_PAIR(pair_of(k)));
            }
            mvaddch(y, 0, static_cast<chtype>(kind_letter(k)));
            const uint32_t most = std::max<uint32_t>(1, most_of_kind[static_cast<size_t>(k)]);
            for (int x = 0; x < width; ++x) {
                mvaddch(y, x0 + x,
                        static_cast<chtype>(level_of(
                            counts[static_cast<size_t>(x)][static_cast<size_t>(k)], most)));
            }
            attroff(A_COLOR);
            ++y;
        }
    } else {
        uint32_t most = 1;
        for (const auto& c : counts) {
            uint32_t total = 0;
            for (uint32_t n : c) {
                total += n;
            }
            most = std::max(most, total);
        }
        for (int x = 0; x < width; ++x) {
            const auto& c = counts[static_cast<size_t>(x)];
            std::optional<EventKind> shown;
            uint32_t total = 0;
            for (EventKind k : activity::all_event_kinds()) {
                uint32_t n = c[static_cast<size_t>(k)];
                total += n;
                if (n && (!shown || rank(k) < rank(*shown))) {
                    shown = k;
                }
            }
            if (shown) {
                if (colour_) {
                    attron(COLOR_PAIR(pair_of(*shown)));
                }
                mvaddch(l.strip, x, static_cast<chtype>(kind_letter(*shown)));
                attroff(A_COLOR);
            } else {
                mvaddch(l.strip, x, ' ');
            }
            mvaddch(l.strip + 1, x, static_cast<chtype>(level_of(total, most)));
        }
    }
    mvhline(cursor_row, 0, ' ', l.columns);
    std::string left = std::to_string(start);
    std::string right = std::to_string(index_.end_instruction);
    put(cursor_row, x0, left, width);
    if (static_cast<int>(left.size() + right.size()) + 4 < width) {
        put(cursor_row, l.columns - static_cast<int>(right.size()), right, width);
    }
    if (const ActivityEvent* e = browser_.selected()) {
        attron(A_BOLD);
        mvaddch(cursor_row, x0 + column_of(e->position.instructions), '^');
        attroff(A_BOLD);
    }
}

void TimelineScreen::draw_list(const Layout& l) {
    const auto& rows = browser_.visible();
    const size_t shown = static_cast<size_t>(std::max(1, l.list_rows));
    const size_t selected = browser_.selected_row();
    if (selected < top_) {
        top_ = selected;
    } else if (selected >= top_ + shown) {
        top_ = selected + 1 - shown;
    }
    for (int r = 0; r < l.list_rows; ++r) {
        const size_t row = top_ + static_cast<size_t>(r);
        const int y = l.list + r;
        mvhline(y, 0, ' ', l.columns);
        if (row >= rows.size()) {
            if (rows.empty() && r == 0) {
                put(y, 0, "  (no events of the kinds shown; f to change the filter)", l.columns);
            }
            continue;
        }
        const ActivityEvent& e = index_.events[rows[row]];
        char head[80];
        const std::string cpu = several_vcpus_ ? "cpu" + std::to_string(e.vcpu) + " " : "";
        std::snprintf(head, sizeof head, "%14llu %s%-10s ",
                      static_cast<unsigned long long>(e.position.instructions), cpu.c_str(),
                      std::string(activity::event_kind_name(e.kind)).c_str());
        const bool is_selected = row == selected;
        if (is_selected) {
            attron(A_REVERSE);
            mvhline(y, 0, ' ', l.columns);
        }
        put(y, 0, is_selected ? ">" : " ", 1);
        put(y, 1, head, l.columns - 1);
        if (colour_ && !is_selected) {
            attron(COLOR_PAIR(pair_of(e.kind)));
        }
        if (e.kind == EventKind::Crash) {
            attron(A_BOLD);
        }
        const int x = 1 + static_cast<int>(std::string(head).size());
        put(y, x, describe_event(e), l.columns - x);
        attroff(A_REVERSE | A_BOLD | A_COLOR);
    }
}

void TimelineScreen::draw_detail(const Layout& l) {
    const ActivityEvent* e = browser_.selected();
    std::string title = "-- detail ";
    if (e) {
        title += "(count " + std::to_string(e->position.instructions) + ", inputs " +
                 std::to_string(e->position.inputs) +
                 (e->position.deliveries ? ", deliveries " + std::to_string(e->position.deliveries)
                                         : std::string()) +
                 (several_vcpus_ ? ", vCPU " + std::to_string(e->vcpu) : std::string()) + ") ";
    }
    mvhline(l.detail, 0, '-', l.columns);
    put(l.detail, 0, title, l.columns);
    for (int r = 0; r < l.detail_rows; ++r) {
        mvhline(l.detail + 1 + r, 0, ' ', l.columns);
    }
    if (!e) {
        return;
    }
    if (detail_for_ != e) {
        put(l.detail + 1, 0, "(replaying to this point...)", l.columns);
        return;
    }
    if (!detail_.error.empty()) {
        put(l.detail + 1, 0, detail_.error, l.columns);
        return;
    }
    std::string at = "at " + detail_.where;
    if (!detail_.source.empty()) {
        at += "  " + short_source_path(detail_.source);
    }
    put(l.detail + 1, 0, at, l.columns);

    const auto& cpu = detail_.vcpu.cpu;
    struct Reg {
        const char* name;
        uint64_t value;
    };
    // Most telling first: at 80x24 only the first eight fit.
    const Reg regs[] = {
        {"rip", cpu.rip},      {"rsp", cpu.gpr[RSP]}, {"rax", cpu.gpr[RAX]},
        {"rdi", cpu.gpr[RDI]}, {"rsi", cpu.gpr[RSI]}, {"rdx", cpu.gpr[RDX]},
        {"rcx", cpu.gpr[RCX]}, {"cr2", cpu.cr2},      {"rbx", cpu.gpr[RBX]},
        {"rbp", cpu.gpr[RBP]}, {"r8", cpu.gpr[R8]},   {"r9", cpu.gpr[R9]},
        {"r10", cpu.gpr[R10]}, {"r11", cpu.gpr[R11]}, {"r12", cpu.gpr[R12]},
        {"r13", cpu.gpr[R13]}, {"r14", cpu.gpr[R14]}, {"r15", cpu.gpr[R15]},
        {"rfl", cpu.rflags},   {"cr3", cpu.cr3},      {"cs", cpu.seg[CS].selector},
    };
    // Two registers a line on 80 columns, three from 140.
    const int per_line = l.columns >= 140 ? 3 : 2;
    const int register_width = per_line * 21;
    const int rows = l.detail_rows - 1;
    size_t next = 0;
    for (int r = 0; r < rows && next < std::size(regs); ++r) {
        std::string line;
        for (int k = 0; k < per_line && next < std::size(regs); ++k, ++next) {
            char cell[32];
            std::snprintf(cell, sizeof cell, "%-3s %s ", regs[next].name,
                          hex(regs[next].value).c_str());
            line += cell;
        }
        put(l.detail + 2 + r, 0, line, register_width);
    }
    // The disassembly, with the line at RIP near the top.
    size_t first = 0;
    for (size_t i = 0; i < detail_.disassembly.size(); ++i) {
        if (detail_.disassembly[i].rfind("=>", 0) == 0) {
            first = i > 1 ? i - 2 : 0;
        }
    }
    const int x = register_width + 1;
    for (int r = 0; r < rows && first + static_cast<size_t>(r) < detail_.disassembly.size(); ++r) {
        const std::string& line = detail_.disassembly[first + static_cast<size_t>(r)];
        if (line.rfind("=>", 0) == 0) {
            attron(A_BOLD);
        }
        put(l.detail + 2 + r, x, line, l.columns - x);
        attroff(A_BOLD);
    }
}

void TimelineScreen::draw_console(const Layout& l) {
    mvhline(l.console, 0, '-', l.columns);
    put(l.console, 0, "-- console up to this point ", l.columns);
    std::vector<std::string> lines;
    if (detail_for_ && detail_for_ == browser_.selected() && detail_.error.empty()) {
        lines = console_lines(detail_.console);
    }
    const size_t first =
        lines.size() > static_cast<size_t>(l.console_rows) ? lines.size() - l.console_rows : 0;
    for (int r = 0; r < l.console_rows; ++r) {
        mvhline(l.console + 1 + r, 0, ' ', l.columns);
        if (first + static_cast<size_t>(r) < lines.size()) {
            put(l.console + 1 + r, 0, lines[first + static_cast<size_t>(r)], l.columns);
        }
    }
}

void TimelineScreen::draw_status(const Layout& l) {
    mvhline(l.status, 0, ' ', l.columns);
    std::string text = message_.empty()
                           ? "? help  q quit  / search  n N next  f filter  g count  G end  "
                             "c crash  o gdb"
                           : message_;
    attron(A_BOLD);
    put(l.status, 0, text, l.columns);
    attroff(A_BOLD);
}

void TimelineScreen::draw() {
    Layout l = layout();
    erase();
    if (l.too_small) {
        put(0, 0,
            "krr-tui needs at least " + std::to_string(kMinColumns) + "x" +
                std::to_string(kMinLines) + " (now " + std::to_string(l.columns) + "x" +
                std::to_string(l.lines) + ")",
            l.columns);
        refresh();
        return;
    }
    draw_header(l);
    draw_strip(l);
    draw_list(l);
    draw_detail(l);
    draw_console(l);
    draw_status(l);
    refresh();
}

std::string TimelineScreen::prompt(const std::string& question) {
    Layout l = layout();
    std::string answer;
    curs_set(1);
    for (;;) {
        mvhline(l.status, 0, ' ', l.columns);
        put(l.status, 0, question + answer, l.columns - 1);
        refresh();
        int key = getch();
        if (key == '\n' || key == KEY_ENTER) {
            break;
        }
        if (key == 27) {
            answer.clear();
            break;
        }
        if (key == KEY_BACKSPACE || key == 127 || key == 8) {
            if (!answer.empty()) {
                answer.pop_back();
            }
        } else if (key == KEY_RESIZE) {
            draw();
            l = layout();
        } else if (key >= 0x20 && key < 0x7f) {
            answer.push_back(static_cast<char>(key));
        }
    }
    curs_set(0);
    return answer;
}

void TimelineScreen::popup(const std::vector<std::string>& text) {
    int height = 0, width = 0;
    getmaxyx(stdscr, height, width);
    // Lines wider than the screen continue on the next, indented, so a long
    // command is shown whole.
    const size_t room = static_cast<size_t>(std::max(8, width - 4));
    std::vector<std::string> lines;
    for (const auto& line : text) {
        lines.push_back(line.substr(0, room));
        for (size_t at = room; at < line.size(); at += room - 4) {
            lines.push_back("    " + line.substr(at, room - 4));
        }
    }
    int inner = 0;
    for (const auto& s : lines) {
        inner = std::max(inner, static_cast<int>(s.size()));
    }
    const int w = std::min(width, inner + 4);
    const int h = std::min(height, static_cast<int>(lines.size()) + 2);
    WINDOW* win = newwin(h, w, (height - h) / 2, (width - w) / 2);
    if (!win) {
        return;
    }
    werase(win);
    // ASCII borders read the same on every terminal and in captures.
    wborder(win, '|', '|', '-', '-', '+', '+', '+', '+');
    for (int i = 0; i < h - 2; ++i) {
        mvwaddnstr(win, i + 1, 2, fit(lines[static_cast<size_t>(i)], w - 4).c_str(), w - 4);
    }
    wrefresh(win);
    delwin(win);
}

void TimelineScreen::show_help() {
    popup({
        "krr-tui keys",
        "",
        "j k  Down Up   next / previous event",
        "PgDn PgUp      a page down / up",
        "Home End       first / last event",
        "g              go to an instruction count",
        "G              go to the end",
        "c              go to the crash (oops, panic, BUG)",
        "f              filter by kinds: syscall,exception,page-fault,",
        "               interrupt,switch,console,input,crash (or s x p",
        "               i w c n !); empty shows all (inputs included;",
        "               at the start everything but inputs is shown)",
        "/              search event text;  n / N  next / previous match",
        "o              gdb commands for this point (s: start the server)",
        "?              this help",
        "q              quit",
        "",
        "strip: one column per slice of the run, the letter of the",
        "most telling kind in it, density below (. : - = + * #), ^ you",
        "",
        "press any key",
    });
    getch();
    touchwin(stdscr);
}

void TimelineScreen::open_gdb() {
    const ActivityEvent* e = browser_.selected();
    if (!e) {
        message_ = "no event selected";
        return;
    }
    const uint64_t count = e->position.instructions;
    GdbCommands commands = gdb_commands(context_.trace_path, count, context_.vmlinux);
    std::vector<std::string> lines = {
        "Open gdb at instruction count " + std::to_string(count) + ":",
        "",
        "  " + commands.server,
        "  " + commands.gdb,
        "",
        "s: start the server now (listens on " + std::string(kGdbListen) + ")",
        "any other key: close",
    };
    popup(lines);
    farewell_ = {"gdb at instruction count " + std::to_string(count) + ":", "  " + commands.server,
                 "  " + commands.gdb};
    int key = getch();
    touchwin(stdscr);
    if (key != 's') {
        return;
    }
    try {
        StartedServer server = start_gdbserver(krr_beside_self(), context_.trace_path, count);
        message_ = "gdbserver started (pid " + std::to_string(server.pid) + ", output in " +
                   server.log + "); now run: " + commands.gdb;
        farewell_.push_back("a gdbserver was started: pid " + std::to_string(server.pid) +
                            ", output in " + server.log);
    } catch (const Error& error) {
        message_ = error.what();
    }
}

bool TimelineScreen::handle(int key) {
    Layout l = layout();
    const long page = std::max(1, l.list_rows - 1);
    message_.clear();
    switch (key) {
    case 'q':
        return false;
    case 'j':
    case KEY_DOWN:
        browser_.move(1);
        break;
    case 'k':
    case KEY_UP:
        browser_.move(-1);
        break;
    case KEY_NPAGE:
    case ' ':
        browser_.move(page);
        break;
    case KEY_PPAGE:
    case 'b':
        browser_.move(-page);
        break;
    case KEY_HOME:
        browser_.first();
        break;
    case KEY_END:
    case 'G':
        browser_.last();
        break;
    case 'c':
        if (!browser_.jump_to_crash()) {
            message_ = "no crash in this trace";
        }
        break;
    case 'g': {
        std::string answer = prompt("go to instruction count: ");
        if (answer.empty()) {
            break;
        }
        char* end = nullptr;
        unsigned long long count = std::strtoull(answer.c_str(), &end, 0);
        if (!end || *end != '\0') {
            message_ = "not a count: " + answer;
        } else {
            browser_.jump_to_count(count);
        }
        break;
    }
    case 'f': {
        std::string answer = prompt("show kinds (empty: all): ");
        try {
            browser_.set_filter(parse_kind_list(answer));
        } catch (const Error& error) {
            message_ = error.what();
        }
        break;
    }
    case '/': {
        std::string answer = prompt("/");
        if (!answer.empty() && !browser_.search(answer)) {
            message_ = "not found: " + answer;
        }
        break;
    }
    case 'n':
    case 'N':
        if (browser_.last_search().empty()) {
            message_ = "no search yet: / to search";
        } else if (!browser_.search_again(key == 'n')) {
            message_ = "not found: " + browser_.last_search();
        }
        break;
    case 'o':
        open_gdb();
        break;
    case '?':
        show_help();
        break;
    case KEY_RESIZE:
        clear();
        break;
    default:
        break;
    }
    return true;
}

void TimelineScreen::refresh_detail() {
    const ActivityEvent* e = browser_.selected();
    if (!e || e == detail_for_) {
        return;
    }
    detail_ = details_.at(*e);
    detail_for_ = e;
}

std::vector<std::string> TimelineScreen::run() {
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    if (has_colors()) {
        start_color();
        use_default_colors();
        colour_ = true;
        init_pair(pair_of(EventKind::Syscall), COLOR_GREEN, -1);
        init_pair(pair_of(EventKind::Exception), COLOR_MAGENTA, -1);
        init_pair(pair_of(EventKind::PageFault), COLOR_YELLOW, -1);
        init_pair(pair_of(EventKind::Interrupt), COLOR_CYAN, -1);
        init_pair(pair_of(EventKind::ContextSwitch), COLOR_BLUE, -1);
        init_pair(pair_of(EventKind::Console), -1, -1);
        init_pair(pair_of(EventKind::Input), -1, -1);
        init_pair(pair_of(EventKind::Crash), COLOR_RED, -1);
        init_pair(kHeaderPair, COLOR_BLACK, COLOR_CYAN);
        init_pair(kSelectedPair, COLOR_BLACK, COLOR_WHITE);
    }
    for (;;) {
        draw();
        // Replaying to an event takes a moment: only when no key is waiting.
        if (browser_.selected() && browser_.selected() != detail_for_) {
            timeout(0);
            int key = getch();
            timeout(-1);
            if (key == ERR) {
                refresh_detail();
                continue;
            }
            if (!handle(key)) {
                break;
            }
            continue;
        }
        if (!handle(getch())) {
            break;
        }
    }
    endwin();
    return farewell_;
}

} // namespace krr::tui
