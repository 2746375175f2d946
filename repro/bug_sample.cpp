#include "repro/bug_sample.h"

#include "guest-model/error.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace krr {

namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) {
        return {};
    }
    size_t e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

std::regex crash_regex(const std::string& key, const std::string& value, const std::string& at) {
    if (value.empty()) {
        throw Error(at, "the " + key + " pattern is empty");
    }
    try {
        return std::regex(value, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        throw Error(at, key + ": not a regular expression: " + std::string(e.what()));
    }
}

} // namespace

const char* report_kind_name(ReportKind kind) {
    return kind == ReportKind::Syzbot ? "syzbot" : "default";
}

SampleReport BugSample::report_on(ReportKind kind) const {
    SampleReport r{title, crash_pattern, crash, cmdline};
    if (kind == ReportKind::Syzbot) {
        if (!syzbot_title.empty()) {
            r.title = syzbot_title;
        }
        if (!syzbot_crash_pattern.empty()) {
            r.crash_pattern = syzbot_crash_pattern;
            r.crash = std::regex(syzbot_crash_pattern, std::regex::ECMAScript);
        }
        if (syzbot_cmdline) {
            r.cmdline = *syzbot_cmdline;
        }
    }
    return r;
}

BugSample BugSample::for_kind(ReportKind kind) const {
    BugSample s = *this;
    SampleReport r = report_on(kind);
    s.title = r.title;
    s.crash_pattern = r.crash_pattern;
    s.crash = r.crash;
    s.cmdline = r.cmdline;
    return s;
}

BugSample parse_bug_conf(const std::string& text, const std::string& where) {
    if (text.size() > 64 * 1024) {
        throw Error(where, "too large for a bug.conf (over 64 KiB)");
    }
    BugSample s;
    std::set<std::string> seen;
    std::istringstream in(text);
    std::string raw;
    int number = 0;
    while (std::getline(in, raw)) {
        ++number;
        std::string line = trim(raw);
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const std::string at = where + ":" + std::to_string(number);
        size_t colon = line.find(':');
        if (colon == std::string::npos) {
            throw Error(at, "expected 'key: value'");
        }
        std::string key = trim(line.substr(0, colon));
        std::string value = trim(line.substr(colon + 1));
        if (!seen.insert(key).second) {
            throw Error(at, "'" + key + "' given twice");
        }
        if (key == "title") {
            s.title = value;
        } else if (key == "title-syzbot") {
            if (value.empty()) {
                throw Error(at, "title-syzbot: empty");
            }
            s.syzbot_title = value;
        } else if (key == "crash") {
            s.crash = crash_regex(key, value, at);
            s.crash_pattern = value;
        } else if (key == "crash-syzbot") {
            crash_regex(key, value, at);
            s.syzbot_crash_pattern = value;
        } else if (key == "cmdline-syzbot") {
            s.syzbot_cmdline = value;
        } else if (key == "module") {
            if (value != "none" && !value.empty()) {
                for (char c : value) {
                    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
                        throw Error(at, "module: '" + value + "' is not a module name");
                    }
                }
                s.module = value;
            }
        } else if (key == "cmdline") {
            s.cmdline = value;
        } else if (key == "racy") {
            if (value != "yes" && value != "no") {
                throw Error(at, "racy: expected yes or no, not '" + value + "'");
            }
            s.racy = value == "yes";
        } else if (key == "attempts") {
            unsigned long n = 0;
            size_t used = 0;
            try {
                n = std::stoul(value, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used == 0 || used != value.size() || n < 1 || n > 1000) {
                throw Error(at, "attempts: expected a number from 1 to 1000, not '" + value + "'");
            }
            s.attempts = static_cast<unsigned>(n);
        } else {
            throw Error(at, "unknown key '" + key + "'");
        }
    }
    if (s.title.empty()) {
        throw Error(where, "no title");
    }
    if (s.crash_pattern.empty()) {
        throw Error(where, "no crash pattern");
    }
    return s;
}

BugSample load_bug_sample(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        throw Error("repro: " + dir, "not a sample directory");
    }
    const std::string conf = (fs::path(dir) / "bug.conf").string();
    std::ifstream in(conf);
    if (!in) {
        throw Error("repro: " + conf, "cannot read it (a sample holds bug.conf and repro.c)");
    }
    std::ostringstream text;
    text << in.rdbuf();
    BugSample s = parse_bug_conf(text.str(), conf);
    if (!fs::is_regular_file(fs::path(dir) / "repro.c", ec)) {
        throw Error("repro: " + dir, "no repro.c");
    }
    s.dir = fs::absolute(dir).lexically_normal().string();
    if (!s.dir.empty() && s.dir.back() == '/') {
        s.dir.pop_back();
    }
    s.name = fs::path(s.dir).filename().string();
    return s;
}

} // namespace krr
