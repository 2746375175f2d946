// A samples/bugs/<name>/ directory: the reproducer (repro.c) and its
// bug.conf, the metadata krr repro needs to build, boot and recognise the
// crash. bug.conf is "key: value" lines; '#' starts a comment line:
//
//   title:    syzbot-style title, e.g. "general protection fault in f"
//   crash:    ECMAScript regular expression searched in each console line
//   module:   a kmod/ module to build and load (its name), or "none"
//   cmdline:  kernel command-line additions (the detectors the bug needs)
//   racy:     yes or no
//   attempts: how many recordings krr repro tries by default (1..1000)
//
// title, crash and cmdline describe the report on the default kernel
// (Debian's: SLUB debugging, the oops handler). A KASAN/lockdep kernel
// (`krr kernel build`, --kernel syzbot) reports the same bug differently, so
// a sample may state that report with title-syzbot, crash-syzbot and
// cmdline-syzbot; each one it leaves out is the plain key's value (a bug
// both kernels report alike is stated once).
//
// Parsing is strict about what it knows and says which line is wrong.
#pragma once

#include <optional>
#include <regex>
#include <string>

namespace krr {

// Which detectors report a bug: the default kernel's (SLUB debugging, oops
// and refcount checks) or a syzbot-grade kernel's (KASAN, lockdep).
enum class ReportKind { Default, Syzbot };

const char* report_kind_name(ReportKind kind);

// How a sample's bug shows on one kind of kernel.
struct SampleReport {
    std::string title;
    std::string crash_pattern;
    std::regex crash;
    std::string cmdline;
};

struct BugSample {
    std::string name; // the directory's name
    std::string dir;
    std::string title;
    std::string crash_pattern;
    std::regex crash;
    std::string module; // empty: none
    std::string cmdline;
    bool racy = false;
    unsigned attempts = 1;

    // Whether a console line is the crash.
    bool is_crash_line(const std::string& line) const { return std::regex_search(line, crash); }

    // The *-syzbot keys given (each empty or unset where the key is absent).
    std::string syzbot_title;
    std::string syzbot_crash_pattern;
    std::optional<std::string> syzbot_cmdline;

    SampleReport report_on(ReportKind kind) const;
    // This sample with title, crash and cmdline those of `kind`.
    BugSample for_kind(ReportKind kind) const;
};

// Parses bug.conf text; `where` names it in errors. Throws krr::Error.
BugSample parse_bug_conf(const std::string& text, const std::string& where);
// Reads DIR/bug.conf and checks DIR/repro.c exists. Throws krr::Error.
BugSample load_bug_sample(const std::string& dir);

} // namespace krr
