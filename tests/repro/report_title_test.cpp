// Report excerpts are from krr runs of samples/bugs/ (the syzbot kernel's
// and the default kernel's consoles); the expected titles are syzbot's
// naming rules applied by hand.
#include "repro/report_title.h"

#include <doctest/doctest.h>
#include <string>

namespace {

std::vector<krr::ConsoleLine> console_of(const std::string& text) {
    krr::ConsoleLines lines;
    for (char c : text) {
        lines.add(static_cast<uint8_t>(c), 0);
    }
    return lines.lines();
}

std::string title_of(const std::string& text, size_t from = 1) {
    return krr::report_title(console_of(text), from).value_or("(none)");
}

} // namespace

TEST_CASE("report title: KASAN names the access and the first frame outside KASAN") {
    const std::string uaf =
        "[    3.730] ==================================================================\n"
        "[    3.730] BUG: KASAN: use-after-free in session_checksum+0x154/0x190 [krr_bugs]\n"
        "[    3.731] Read of size 8 at addr ffff8880049f4f80 by task repro/28\n"
        "[    3.731] \n"
        "[    3.731] CPU: 0 PID: 28 Comm: repro Tainted: G           O       6.1.192-krr-syzbot #1 "
        "\n"
        "[    3.731] Call Trace:\n"
        "[    3.731]  <TASK>\n"
        "[    3.731]  dump_stack_lvl+0x51/0x66\n"
        "[    3.731]  print_report+0x19a/0x4a3\n"
        "[    3.731]  ? __virt_addr_valid+0x169/0x310\n"
        "[    3.731]  ? kasan_complete_mode_report_info+0x78/0x190\n"
        "[    3.731]  kasan_report+0xe9/0x190\n"
        "[    3.731]  ? session_checksum+0x154/0x190 [krr_bugs]\n"
        "[    3.731]  __asan_report_load8_noabort+0x14/0x20\n"
        "[    3.731]  session_checksum+0x154/0x190 [krr_bugs]\n"
        "[    3.731]  krr_bugs_ioctl+0x245/0x74c [krr_bugs]\n"
        "[    3.731]  </TASK>\n";
    CHECK(title_of(uaf) == "KASAN: use-after-free Read in session_checksum");

    const std::string oob =
        "[    3.6] BUG: KASAN: slab-out-of-bounds in krr_bugs_ioctl+0x6b2/0x74c [krr_bugs]\n"
        "[    3.6] Write of size 8 at addr ffff888003a5e9c0 by task repro/27\n"
        "[    3.6] Call Trace:\n"
        "[    3.6]  <TASK>\n"
        "[    3.6]  dump_stack_lvl+0x51/0x66\n"
        "[    3.6]  print_report+0x19a/0x4a3\n"
        "[    3.6]  kasan_report+0xe9/0x190\n"
        "[    3.6]  ? krr_bugs_ioctl+0x6b2/0x74c [krr_bugs]\n"
        "[    3.6]  __asan_report_store8_noabort+0x17/0x20\n"
        "[    3.6]  krr_bugs_ioctl+0x6b2/0x74c [krr_bugs]\n"
        "[    3.6]  __x64_sys_ioctl+0x883/0x1680\n";
    CHECK(title_of(oob, 0) == "KASAN: slab-out-of-bounds Write in krr_bugs_ioctl");

    // A double free has no access kind; KASAN names kfree, syzbot the caller.
    const std::string double_free = "[    3.69] BUG: KASAN: double-free in kfree+0xcb/0x150\n"
                                    "[    3.69] Free of addr ffff888003b0c200 by task repro/27\n"
                                    "[    3.69] \n"
                                    "[    3.69] Call Trace:\n"
                                    "[    3.69]  <TASK>\n"
                                    "[    3.69]  dump_stack_lvl+0x51/0x66\n"
                                    "[    3.69]  print_report+0x19a/0x4a3\n"
                                    "[    3.69]  ? kfree+0xcb/0x150\n"
                                    "[    3.69]  kasan_report_invalid_free+0xa6/0x140\n"
                                    "[    3.69]  ____kasan_slab_free+0x1e4/0x220\n"
                                    "[    3.69]  ? krr_bugs_release+0x55/0x140 [krr_bugs]\n"
                                    "[    3.69]  __kasan_slab_free+0x12/0x20\n"
                                    "[    3.69]  __kmem_cache_free+0xc4/0x1c0\n"
                                    "[    3.69]  kfree+0xcb/0x150\n"
                                    "[    3.69]  krr_bugs_release+0x55/0x140 [krr_bugs]\n"
                                    "[    3.69]  __fput+0x1e0/0x7f0\n";
    CHECK(title_of(double_free, 0) == "KASAN: double-free in krr_bugs_release");
}

TEST_CASE("report title: faults are named after the RIP") {
    // KASAN's shadow check of a NULL pointer: the crash line is the second.
    const std::string kasan_null =
        "general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 "
        "[#1] SMP KASAN\n"
        "KASAN: null-ptr-deref in range [0x0000000000000008-0x000000000000000f]\n"
        "CPU: 0 PID: 0 Comm: swapper/0 Tainted: G           O       6.1.192-krr-syzbot #1 \n"
        "RIP: 0010:watch_timer_fn+0x25/0x90 [krr_bugs]\n";
    CHECK(title_of(kasan_null, 0) == "general protection fault in watch_timer_fn");
    CHECK(title_of(kasan_null, 1) == "general protection fault in watch_timer_fn");

    const std::string gpf = "[    3.2] general protection fault, probably for non-canonical "
                            "address 0xa56b6b6b6b6b9c6b: 0000 [#1] PREEMPT SMP PTI\n"
                            "[    3.2] CPU: 0 PID: 80 Comm: repro Tainted: G           OE\n"
                            "[    3.2] RIP: 0010:session_checksum+0x5b/0xa0 [krr_bugs]\n"
                            "[    3.2] Call Trace:\n"
                            "[    3.2]  <TASK>\n"
                            "[    3.2]  __x64_sys_ioctl+0x90/0xd0\n";
    CHECK(title_of(gpf, 0) == "general protection fault in session_checksum");

    const std::string null_deref =
        "[    2.88] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
        "[    2.88] #PF: supervisor write access in kernel mode\n"
        "[    2.88] RIP: 0010:watch_timer_fn+0x1a/0x30 [krr_bugs]\n";
    CHECK(title_of(null_deref, 0) ==
          "BUG: unable to handle kernel NULL pointer dereference in watch_timer_fn");
    // A user-mode RIP is not the kernel function to blame.
    CHECK(title_of("general protection fault\nRIP: 0033:0x434bd9\n", 0) == "(none)");
}

TEST_CASE("report title: lockdep, hung tasks and refcount_t") {
    const std::string lockdep =
        "WARNING: possible circular locking dependency detected\n"
        "6.1.192-krr-syzbot #1 Tainted: G           O      \n"
        "------------------------------------------------------\n"
        "repro/29 is trying to acquire lock:\n"
        "ffffffffa00021a8 (table_lock){+.+.}-{3:3}, at: unlink_entries+0x2c/0x60 [krr_bugs]\n"
        "\n"
        "but task is already holding lock:\n"
        "ffffffffa00020e8 (map_lock){+.+.}-{3:3}, at: unlink_entries+0x12/0x60 [krr_bugs]\n";
    CHECK(title_of(lockdep, 0) == "possible deadlock in unlink_entries");

    const std::string hung =
        "[    6.89] INFO: task repro:80 blocked for more than 2 seconds.\n"
        "[    6.89]       Tainted: G           OE      6.1.0-56-amd64 #1 Debian 6.1.192-2\n"
        "[    6.89] task:repro           state:D stack:0     pid:80    ppid:1\n"
        "[    6.89] Call Trace:\n"
        "[    6.89]  <TASK>\n"
        "[    6.89]  __schedule+0x34d/0xa00\n"
        "[    6.89]  schedule+0x5a/0xd0\n"
        "[    6.89]  schedule_preempt_disabled+0x11/0x20\n"
        "[    6.89]  __mutex_lock.constprop.0+0x39d/0x720\n"
        "[    6.89]  link_entries+0x89/0xf0 [krr_bugs]\n"
        "[    6.89]  __x64_sys_ioctl+0x90/0xd0\n";
    CHECK(title_of(hung, 0) == "INFO: task hung in link_entries");

    const std::string refcount =
        "------------[ cut here ]------------\n"
        "refcount_t: underflow; use-after-free.\n"
        "WARNING: CPU: 0 PID: 27 at lib/refcount.c:28 refcount_warn_saturate+0x135/0x140\n"
        "RIP: 0010:refcount_warn_saturate+0x135/0x140\n"
        "RSP: 0018:ffff88800413fd20 EFLAGS: 00000286\n"
        "Call Trace:\n"
        " <TASK>\n"
        " channel_detach+0x7b/0x90 [krr_bugs]\n"
        " krr_bugs_ioctl+0x583/0x74c [krr_bugs]\n";
    CHECK(title_of(refcount) == "WARNING: refcount bug in channel_detach");
}

TEST_CASE("report title: unknown reports and positions have none") {
    CHECK(title_of("BUG kmalloc-192 (Tainted: G): Object already free\n", 0) == "(none)");
    CHECK_FALSE(krr::report_title(console_of("x\n"), 5).has_value());
    // A KASAN report cut short still names the function KASAN gives.
    CHECK(title_of("BUG: KASAN: use-after-free in f+0x1/0x2\nRead of size 1 at addr 0\n", 0) ==
          "KASAN: use-after-free Read in f");
}
