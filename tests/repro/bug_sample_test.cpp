#include "guest-model/error.h"
#include "repro/bug_sample.h"

#include <doctest/doctest.h>
#include <filesystem>
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
