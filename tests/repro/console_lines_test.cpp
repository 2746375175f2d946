#include "repro/console_lines.h"

#include <doctest/doctest.h>
#include <string>

namespace {

krr::ConsoleLines feed(const std::string& text, uint64_t first_position) {
    krr::ConsoleLines lines;
    uint64_t position = first_position;
    for (char c : text) {
        lines.add(static_cast<uint8_t>(c), position++);
    }
    return lines;
}

} // namespace

TEST_CASE("console lines: each line keeps its first byte's position") {
    auto lines = feed("ab\r\ncd\nef", 100).lines();
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].text == "ab");
    CHECK(lines[0].position == 100);
    CHECK(lines[1].text == "cd");
    CHECK(lines[1].position == 104);
    CHECK(lines[2].text == "ef"); // unfinished
    CHECK(lines[2].position == 107);
    auto found = krr::find_line(lines, [](const std::string& l) { return l == "cd"; });
    REQUIRE(found);
    CHECK(*found == 1);
    CHECK_FALSE(krr::find_line(lines, [](const std::string& l) { return l == "zz"; }));
}

TEST_CASE("crash report: crash line, RIP and the call trace without '? ' frames") {
    const std::string console =
        "[    2.8] boot chatter\n"
        "[    2.883275] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
        "[    2.883307] #PF: supervisor read access in kernel mode\n"
        "[    2.883529] RIP: 0010:watch_timer_fn+0x1a/0x30 [krr_bugs]\n"
        "[    2.883600] RSP: 0018:ffffc90000003e78 EFLAGS: 00010246\n"
        "[    2.884045] Call Trace:\n"
        "[    2.884067]  <IRQ>\n"
        "[    2.884088]  call_timer_fn+0x27/0x130\n"
        "[    2.884146]  ? session_checksum+0xa0/0xa0 [krr_bugs]\n"
        "[    2.884222]  __run_timers+0x222/0x2c0\n"
        "[    2.884541]  </IRQ>\n"
        "[    2.884541]  <TASK>\n"
        "[    2.884541] RIP: 0010:default_idle+0xa/0x10\n"
        "[    2.884541] RAX: 0000000000000000 RBX: 0000000000000000\n"
        "[    2.885082]  default_idle+0xa/0x10\n"
        "[    2.885562]  </TASK>\n"
        "[    2.885583] Modules linked in: krr_bugs(OE)\n"
        "[    2.886193] Kernel panic - not syncing: Fatal exception in interrupt\n";
    auto lines = feed(console, 0).lines();
    auto report = krr::crash_report(lines, 1);
    const std::vector<std::string> expected = {
        "BUG: kernel NULL pointer dereference, address: 0000000000000008",
        "RIP: 0010:watch_timer_fn+0x1a/0x30 [krr_bugs]",
        "Call Trace:",
        " <IRQ>",
        " call_timer_fn+0x27/0x130",
        " __run_timers+0x222/0x2c0",
        " </IRQ>",
        " <TASK>",
        " default_idle+0xa/0x10",
        " </TASK>",
    };
    CHECK(report == expected);
    CHECK(krr::crash_report(lines, lines.size()).empty());
}

TEST_CASE("crash report: SLUB's allocation and free sites") {
    const std::string console =
        "[    3.324583] BUG kmalloc-192 (Tainted: G           OE     ): Object already free\n"
        "[    3.324689] Allocated in krr_bugs_ioctl+0x371/0x44c [krr_bugs] age=1 cpu=0 pid=79\n"
        "[    3.324778]  __kmalloc+0x49/0x150\n"
        "[    3.325037] Freed in krr_bugs_ioctl+0x30d/0x44c [krr_bugs] age=0 cpu=0 pid=79\n"
        "[    3.325126]  __x64_sys_ioctl+0x90/0xd0\n"
        "[    3.326137] Call Trace:\n"
        "[    3.326159]  <TASK>\n"
        "[    3.326409]  krr_bugs_release+0x15/0x80 [krr_bugs]\n"
        "[    3.327750]  </TASK>\n";
    auto report = krr::crash_report(feed(console, 0).lines(), 0);
    const std::vector<std::string> expected = {
        "BUG kmalloc-192 (Tainted: G           OE     ): Object already free",
        "Allocated in krr_bugs_ioctl+0x371/0x44c [krr_bugs] age=1 cpu=0 pid=79",
        "Freed in krr_bugs_ioctl+0x30d/0x44c [krr_bugs] age=0 cpu=0 pid=79",
        "Call Trace:",
        " <TASK>",
        " krr_bugs_release+0x15/0x80 [krr_bugs]",
        " </TASK>",
    };
    CHECK(report == expected);
}

TEST_CASE("crash report: KASAN's access line follows its BUG line") {
    // From buf-double-free on the syzbot kernel (krr repro --kernel syzbot).
    const std::string console = "[    3.69] ==================================================\n"
                                "[    3.69] BUG: KASAN: double-free in kfree+0xcb/0x150\n"
                                "[    3.69] Free of addr ffff888003b0c200 by task repro/27\n"
                                "[    3.69] \n"
                                "[    3.69] CPU: 0 PID: 27 Comm: repro Tainted: G           O\n"
                                "[    3.69] Call Trace:\n"
                                "[    3.69]  <TASK>\n"
                                "[    3.69]  dump_stack_lvl+0x51/0x66\n"
                                "[    3.69]  ? kfree+0xcb/0x150\n"
                                "[    3.69]  kfree+0xcb/0x150\n"
                                "[    3.69]  krr_bugs_release+0x55/0x140 [krr_bugs]\n"
                                "[    3.69]  </TASK>\n"
                                "[    3.69] Read of size 8 at addr 0 (not KASAN's: not next)\n";
    auto lines = feed(console, 0).lines();
    const std::vector<std::string> expected = {
        "BUG: KASAN: double-free in kfree+0xcb/0x150",
        "Free of addr ffff888003b0c200 by task repro/27",
        "Call Trace:",
        " <TASK>",
        " dump_stack_lvl+0x51/0x66",
        " kfree+0xcb/0x150",
        " krr_bugs_release+0x55/0x140 [krr_bugs]",
        " </TASK>",
    };
    CHECK(krr::crash_report(lines, 1) == expected);
}
