#include "guest-model/error.h"
#include "repro/bug_sample.h"

#include <doctest/doctest.h>
#include <filesystem>
#include <map>
#include <string>

using krr::parse_bug_conf;

namespace {

std::string error_of(const std::string& text) {
    try {
        parse_bug_conf(text, "bug.conf");
    } catch (const krr::Error& e) {
        return e.what();
    }
    return "(no error)";
}

const char* kValid = "# a comment\n"
                     "title: general protection fault in f\n"
                     "crash: general protection fault, .* address 0x6b6b\n"
                     "module: krr_bugs\n"
                     "cmdline: slub_debug=FZPU,kmalloc-* oops=panic\n"
                     "racy: yes\n"
                     "attempts: 7\n";

} // namespace

TEST_CASE("bug.conf: every key is read") {
    krr::BugSample s = parse_bug_conf(kValid, "bug.conf");
    CHECK(s.title == "general protection fault in f");
    CHECK(s.module == "krr_bugs");
    CHECK(s.cmdline == "slub_debug=FZPU,kmalloc-* oops=panic");
    CHECK(s.racy);
    CHECK(s.attempts == 7);
    CHECK(s.is_crash_line("[ 3.3] general protection fault, probably for non-canonical "
                          "address 0x6b6b6b6b6b6b6b6b: 0000 [#1]"));
    CHECK_FALSE(s.is_crash_line("general protection fault in user space"));
}

TEST_CASE("bug.conf: defaults and 'module: none'") {
    krr::BugSample s = parse_bug_conf("title: t\ncrash: x\nmodule: none\n", "c");
    CHECK(s.module.empty());
    CHECK_FALSE(s.racy);
    CHECK(s.attempts == 1);
}

TEST_CASE("bug.conf: mistakes are errors naming the line") {
    CHECK(error_of("crash: x\n") == "bug.conf: no title");
    CHECK(error_of("title: t\n") == "bug.conf: no crash pattern");
    CHECK(
        error_of("title: t\ncrash: (\n").rfind("bug.conf:2: crash: not a regular expression", 0) ==
        0);
    CHECK(error_of("title: t\ncrash: x\ncolour: red\n") == "bug.conf:3: unknown key 'colour'");
    CHECK(error_of("title: t\ntitle: u\n") == "bug.conf:2: 'title' given twice");
    CHECK(error_of("title: t\ncrash: x\nracy: maybe\n") ==
          "bug.conf:3: racy: expected yes or no, not 'maybe'");
    CHECK(error_of("title: t\ncrash: x\nattempts: 0\n") ==
          "bug.conf:3: attempts: expected a number from 1 to 1000, not '0'");
    CHECK(error_of("title: t\ncrash: x\nattempts: 3x\n") ==
          "bug.conf:3: attempts: expected a number from 1 to 1000, not '3x'");
    CHECK(error_of("title: t\ncrash: x\nmodule: ../evil\n") ==
          "bug.conf:3: module: '../evil' is not a module name");
    CHECK(error_of("just words\n") == "bug.conf:1: expected 'key: value'");
    CHECK(error_of(std::string(70000, 'x')) == "bug.conf: too large for a bug.conf (over 64 KiB)");
}

TEST_CASE("every sample in samples/bugs/ loads") {
    namespace fs = std::filesystem;
    const fs::path samples = fs::path(KRR_SOURCE_ROOT) / "samples" / "bugs";
    int count = 0;
    for (const auto& entry : fs::directory_iterator(samples)) {
        if (!entry.is_directory()) {
            continue;
        }
        INFO(entry.path().string());
        krr::BugSample s = krr::load_bug_sample(entry.path().string());
        CHECK(s.name == entry.path().filename().string());
        CHECK(s.module == "krr_bugs");
        ++count;
    }
    CHECK(count >= 6);
}

TEST_CASE("bug.conf: the syzbot kernel's report replaces the default one key by key") {
    krr::BugSample s = parse_bug_conf("title: SLUB: double-free in f\n"
                                      "crash: Object already free\n"
                                      "cmdline: slub_debug=FZPU oops=panic\n"
                                      "title-syzbot: KASAN: double-free in f\n"
                                      "crash-syzbot: BUG: KASAN: double-free in kfree\n"
                                      "cmdline-syzbot:\n",
                                      "bug.conf");
    krr::BugSample plain = s.for_kind(krr::ReportKind::Default);
    CHECK(plain.title == "SLUB: double-free in f");
    CHECK(plain.cmdline == "slub_debug=FZPU oops=panic");
    CHECK(plain.is_crash_line("BUG kmalloc-192 (Tainted: G): Object already free"));
    CHECK_FALSE(plain.is_crash_line("BUG: KASAN: double-free in kfree+0xcb/0x150"));

    krr::BugSample kasan = s.for_kind(krr::ReportKind::Syzbot);
    CHECK(kasan.title == "KASAN: double-free in f");
    CHECK(kasan.cmdline.empty());
    CHECK(kasan.crash_pattern == "BUG: KASAN: double-free in kfree");
    CHECK(kasan.is_crash_line("[   3.1] BUG: KASAN: double-free in kfree+0xcb/0x150"));
    CHECK_FALSE(kasan.is_crash_line("BUG kmalloc-192 (Tainted: G): Object already free"));
}

TEST_CASE("bug.conf: without *-syzbot keys both kernels use the plain ones") {
    krr::BugSample s = parse_bug_conf("title: WARNING: refcount bug in f\n"
                                      "crash: refcount_t: underflow\n"
                                      "cmdline: panic_on_warn=1\n",
                                      "bug.conf");
    krr::BugSample kasan = s.for_kind(krr::ReportKind::Syzbot);
    CHECK(kasan.title == "WARNING: refcount bug in f");
    CHECK(kasan.cmdline == "panic_on_warn=1");
    CHECK(kasan.is_crash_line("refcount_t: underflow; use-after-free."));
}

TEST_CASE("bug.conf: the *-syzbot keys are checked like the others") {
    CHECK(error_of("title: t\ncrash: x\ncrash-syzbot: (\n")
              .rfind("bug.conf:3: crash-syzbot: not a regular expression", 0) == 0);
    CHECK(error_of("title: t\ncrash: x\ncrash-syzbot:\n") ==
          "bug.conf:3: the crash-syzbot pattern is empty");
    CHECK(error_of("title: t\ncrash: x\ntitle-syzbot:\n") == "bug.conf:3: title-syzbot: empty");
    CHECK(error_of("title: t\ncrash: x\ncmdline-syzbot: a\ncmdline-syzbot: b\n") ==
          "bug.conf:4: 'cmdline-syzbot' given twice");
    CHECK(error_of("title: t\ncrash: x\ncrash-kasan: y\n") ==
          "bug.conf:3: unknown key 'crash-kasan'");
}

TEST_CASE("every sample states how the syzbot kernel reports it") {
    namespace fs = std::filesystem;
    const fs::path samples = fs::path(KRR_SOURCE_ROOT) / "samples" / "bugs";
    // What docs/kernel-build.md lists from runs on the syzbot kernel.
    const std::map<std::string, std::string> kasan_titles = {
        {"session-uaf-race", "KASAN: use-after-free Read in session_checksum"},
        {"buf-double-free", "KASAN: double-free in krr_bugs_release"},
        {"slot-oob-write", "KASAN: slab-out-of-bounds Write in krr_bugs_ioctl"},
    };
    for (const auto& [name, title] : kasan_titles) {
        INFO(name);
        krr::BugSample s =
            krr::load_bug_sample((samples / name).string()).for_kind(krr::ReportKind::Syzbot);
        CHECK(s.title == title);
        CHECK(s.crash_pattern.rfind("BUG: KASAN: ", 0) == 0);
        CHECK(s.cmdline.find("slub_debug") == std::string::npos);
    }
}
