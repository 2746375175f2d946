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
// Parsing is strict about what it knows and says which line is wrong.
#pragma once

#include <regex>
#include <string>

namespace krr {

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
};

// Parses bug.conf text; `where` names it in errors. Throws krr::Error.
BugSample parse_bug_conf(const std::string& text, const std::string& where);
// Reads DIR/bug.conf and checks DIR/repro.c exists. Throws krr::Error.
BugSample load_bug_sample(const std::string& dir);

} // namespace krr
