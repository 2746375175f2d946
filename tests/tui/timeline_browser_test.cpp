// The event list's logic behind the keys: filtering keeps the selection on
// the same moment, searches wrap and go both ways, jumps land where the help
// says, and the kind list the `f` prompt takes is parsed strictly.
#include "guest-model/error.h"
#include "tui/gdb_launch.h"
#include "tui/timeline_browser.h"

#include <doctest/doctest.h>

using namespace krr::activity;
using krr::tui::TimelineBrowser;

namespace {

ActivityEvent event(EventKind kind, uint64_t count, uint64_t code = 0, std::string text = "") {
    ActivityEvent e;
    e.kind = kind;
    e.position.instructions = count;
    e.code = code;
    e.text = std::move(text);
    return e;
}

// syscalls getpid (39) and write (1), a page fault, console lines, a crash.
ActivityIndex sample() {
    ActivityIndex index;
    index.start_instruction = 100;
    index.end_instruction = 1000;
    index.events = {
        event(EventKind::Syscall, 110, 39),
        event(EventKind::PageFault, 120),
        event(EventKind::Syscall, 130, 1),
        event(EventKind::Console, 140, 0, "hello"),
        event(EventKind::Syscall, 150, 39),
        event(EventKind::Crash, 160, 0, "BUG: kernel NULL pointer dereference"),
        event(EventKind::Console, 160, 0, "BUG: kernel NULL pointer dereference"),
        event(EventKind::Syscall, 170, 1),
    };
    return index;
}

} // namespace

TEST_CASE("browser: moves are clamped to the list") {
    ActivityIndex index = sample();
    TimelineBrowser b(index);
    CHECK(b.visible().size() == 8);
    CHECK(b.selected()->position.instructions == 110);
    b.move(-5);
    CHECK(b.selected_row() == 0);
    b.move(3);
    CHECK(b.selected()->kind == EventKind::Console);
    b.move(100);
    CHECK(b.selected()->position.instructions == 170);
    b.first();
    CHECK(b.selected_row() == 0);
    b.last();
    CHECK(b.selected_row() == 7);
}

TEST_CASE("browser: a filter keeps the selection on the nearest moment") {
    ActivityIndex index = sample();
    TimelineBrowser b(index);
    b.move(3); // the console line at 140
    b.set_filter({EventKind::Syscall});
    REQUIRE(b.visible().size() == 4);
    CHECK(b.selected()->position.instructions == 150); // the next syscall
    b.set_filter({EventKind::Syscall, EventKind::PageFault});
    CHECK(b.selected()->position.instructions == 150); // still there
    b.set_filter({EventKind::Interrupt});
    CHECK(b.visible().empty());
    CHECK(b.selected() == nullptr);
    b.move(1); // nothing to move through, no crash
    b.set_filter({});
    CHECK(b.visible().size() == 8);
}

TEST_CASE("browser: search wraps, n and N go both ways, misses say so") {
    ActivityIndex index = sample();
    TimelineBrowser b(index);
    CHECK(b.search("GETPID"));
    CHECK(b.selected()->position.instructions == 150); // from the row after the selection
    CHECK(b.search_again(true));
    CHECK(b.selected()->position.instructions == 110); // wrapped
    CHECK(b.search_again(false));
    CHECK(b.selected()->position.instructions == 150);
    // The kind's name is searchable too.
    CHECK(b.search("page-fault"));
    CHECK(b.selected()->kind == EventKind::PageFault);
    const size_t row = b.selected_row();
    CHECK_FALSE(b.search("no such thing"));
    CHECK(b.selected_row() == row);
}

TEST_CASE("browser: jumps to a count and to the crash, through a filter") {
    ActivityIndex index = sample();
    TimelineBrowser b(index);
    b.jump_to_count(131);
    CHECK(b.selected()->position.instructions == 140);
    b.jump_to_count(5000);
    CHECK(b.selected()->position.instructions == 170);
    b.set_filter({EventKind::Syscall});
    REQUIRE(b.jump_to_crash());
    CHECK(b.selected()->kind == EventKind::Crash);
    CHECK(b.filter().count(EventKind::Crash) == 1);

    ActivityIndex calm = sample();
    calm.events.erase(calm.events.begin() + 5);
    TimelineBrowser c(calm);
    c.move(2);
    CHECK_FALSE(c.jump_to_crash());
    CHECK(c.selected_row() == 2);
}

TEST_CASE("browser: the f prompt takes names and strip letters, and refuses the rest") {
    using krr::tui::parse_kind_list;
    CHECK(parse_kind_list("") == std::set<EventKind>{});
    CHECK(parse_kind_list("syscall,crash") ==
          std::set<EventKind>{EventKind::Syscall, EventKind::Crash});
    CHECK(parse_kind_list("p w !") ==
          std::set<EventKind>{EventKind::PageFault, EventKind::ContextSwitch, EventKind::Crash});
    CHECK_THROWS_AS(parse_kind_list("syscalls"), krr::Error);
    CHECK_THROWS_AS(parse_kind_list("z"), krr::Error);
    for (EventKind k : all_event_kinds()) {
        CHECK(parse_kind_list(std::string(1, krr::tui::kind_letter(k))) == std::set<EventKind>{k});
    }
}

TEST_CASE("gdb commands: the server at the count, gdb at the vmlinux, quoted") {
    auto c = krr::tui::gdb_commands("/t/my trace", 12345, "/k/vmlinux");
    CHECK(c.server == "krr gdbserver '/t/my trace' --at 12345");
    CHECK(c.gdb == "gdb -ex 'target remote :1234' /k/vmlinux");
    CHECK(krr::tui::shell_quote("it's") == "'it'\\''s'");
}
