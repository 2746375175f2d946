// Names the timeline prints: system calls from the generated table, event
// kinds both ways, descriptions, and which console lines start a crash.
#include "activity/activity_event.h"
#include "activity/crash_line.h"
#include "activity/syscall_names.h"
#include "activity/task_layout.h"
#include "guest-model/error.h"

#include <doctest/doctest.h>

using namespace krr::activity;

TEST_CASE("syscall names come from the x86-64 table") {
    // Fixed by the x86-64 ABI, so safe to state here.
    CHECK(syscall_name(0) == "read");
    CHECK(syscall_name(1) == "write");
    CHECK(syscall_name(39) == "getpid");
    CHECK(syscall_name(59) == "execve");
    CHECK(syscall_name(231) == "exit_group");
    CHECK(syscall_name(100000).empty());
    CHECK(syscall_number("getpid") == 39u);
    CHECK_FALSE(syscall_number("no_such_call").has_value());
    CHECK_FALSE(syscall_number("").has_value());
}

TEST_CASE("event kinds round-trip through their names") {
    for (EventKind k : all_event_kinds()) {
        CHECK(event_kind_from_name(event_kind_name(k)) == k);
    }
    CHECK(all_event_kinds().size() == kLastEventKind - kFirstEventKind + 1);
    CHECK_FALSE(event_kind_from_name("syscalls").has_value());
}

TEST_CASE("descriptions name the call, the fault and the task") {
    ActivityEvent e;
    e.kind = EventKind::Syscall;
    e.code = 39;
    e.args = {3, 0, 0};
    CHECK(describe_event(e) == "getpid(0x3, 0x0, 0x0)");
    e.code = 9999;
    CHECK(describe_event(e) == "syscall 9999(0x3, 0x0, 0x0)");
    e.text = "sh[42]";
    CHECK(describe_event(e) == "syscall 9999(0x3, 0x0, 0x0) by sh[42]");
    e.text.clear();
    e.code = 39;
    e.returned_at = 500;
    e.result = 0x4f;
    CHECK(describe_event(e) == "getpid(0x3, 0x0, 0x0) = 79");
    e.result = 0x7f0000001000;
    CHECK(describe_event(e) == "getpid(0x3, 0x0, 0x0) = 0x7f0000001000");
    e.result = static_cast<uint64_t>(-2); // -ENOENT
    CHECK(describe_event(e) == "getpid(0x3, 0x0, 0x0) = -2");
    e.returned_at = 0;
    e.code = 9999;
    e.kind = EventKind::PageFault;
    e.address = 0x1000;
    e.args = {6, 0x401000, 0}; // write from user mode, page not present
    CHECK(describe_event(e) == "page fault at 0x1000 (write, user, not present) from 0x401000");
    e.kind = EventKind::ContextSwitch;
    e.code = 42;
    e.text = "sh";
    e.args = {0x5000, 0, 0};
    CHECK(describe_event(e) == "switch to sh[42] (cr3 0x5000)");
}

TEST_CASE("descriptions of exceptions and interrupts show their return") {
    ActivityEvent e;
    e.kind = EventKind::PageFault;
    e.position.instructions = 1000;
    e.address = 0x1000;
    e.args = {6, 0x401000, 0};
    e.text = "sh[42]";
    e.returned_at = 1250;
    e.result = 0x401000; // back to the faulting instruction
    CHECK(describe_event(e) ==
          "page fault at 0x1000 (write, user, not present) from 0x401000 by sh[42] ret +250");
    e.result = 0x402000; // a signal handler
    CHECK(describe_event(e) == "page fault at 0x1000 (write, user, not present) from 0x401000 by "
                               "sh[42] ret +250 to 0x402000");
    e.kind = EventKind::Exception;
    e.code = 6;
    e.address = 0x401840;
    e.text = "invalid_op";
    e.result = 0x401820;
    CHECK(describe_event(e) == "invalid_op (vector 6) at 0x401840 ret +250 to 0x401820");
    e.returned_at = 0;
    CHECK(describe_event(e) == "invalid_op (vector 6) at 0x401840");
    e.kind = EventKind::Interrupt;
    e.code = 236;
    e.address = 0;
    e.text.clear();
    CHECK(describe_event(e) == "interrupt vector 236 (0xec)"); // its entry was not seen
    e.address = 0x4015d7;
    e.text = "spin[79]";
    e.returned_at = 3205;
    e.result = 0x4015d7;
    CHECK(describe_event(e) == "interrupt vector 236 (0xec) at 0x4015d7 in spin[79] ret +2205");
}

TEST_CASE("crash lines are recognised, ordinary lines are not") {
    CHECK(is_crash_line("[   12.3] BUG: KASAN: slab-use-after-free in krr_bugs_ioctl+0x1/0x2"));
    CHECK(is_crash_line("[    3.1] general protection fault, probably for non-canonical address"));
    CHECK(is_crash_line("[    4.0] Kernel panic - not syncing: Fatal exception"));
    CHECK(
        is_crash_line("[    4.0] BUG: kernel NULL pointer dereference, address: 0000000000000000"));
    CHECK(is_crash_line("[    5.2] BUG kmalloc-64 (Tainted: G           O      ): Right Redzone "
                        "overwritten"));
    CHECK(is_crash_line("[    6.0] refcount_t: underflow; use-after-free."));
    CHECK(is_crash_line("[  130.0] INFO: task repro:80 blocked for more than 120 seconds."));
    CHECK_FALSE(is_crash_line("[    1.0] Run /init as init process"));
    CHECK_FALSE(is_crash_line("[    1.0] printk: BUG messages are fine in the middle"));
    CHECK_FALSE(is_crash_line("DEBUG: nothing wrong"));
}

TEST_CASE("task layout: a file without DWARF is an error naming it") {
    CHECK_THROWS_WITH_AS(read_task_layout("/nonexistent/vmlinux"),
                         doctest::Contains("/nonexistent/vmlinux"), krr::Error);
}
