#include "repro/report_title.h"

#include <regex>

namespace krr {

namespace {

// How far past its first line a report's parts may be.
constexpr size_t kReportWindow = 200;

// "[    3.324583] text" -> "text".
std::string strip_timestamp(const std::string& line) {
    if (line.size() > 2 && line[0] == '[') {
        size_t close = line.find("] ");
        if (close != std::string::npos && close < 20) {
            return line.substr(close + 2);
        }
    }
    return line;
}

bool starts_with(const std::string& s, const char* prefix) {
    return s.rfind(prefix, 0) == 0;
}

// "fn+0x12/0x40 [mod]" -> "fn".
std::string function_of(const std::string& frame) {
    size_t end = frame.find_first_of("+ ");
    return frame.substr(0, end);
}

// Frames that belong to the detector, the allocator, the scheduler or the
// locking code rather than to the code with the bug.
bool is_machinery(const std::string& fn) {
    static const std::regex machinery(
        "dump_stack.*|print_report|print_address_description.*|_*kasan_.*|__asan_.*|"
        "kfree|kvfree|_*kmem_cache_free|_*slab_free.*|do_slab_free|memcpy|memset|memmove|"
        "_*schedule.*|preempt_schedule.*|_*mutex_lock.*|_*down.*|_*rwsem_.*|"
        "_*lock_acquire|lock_acquired|_*refcount_.*|refcount_warn_saturate");
    return std::regex_match(fn, machinery);
}

// The reliable frames of the first call trace in lines[from, end).
std::vector<std::string> call_trace(const std::vector<std::string>& lines) {
    std::vector<std::string> frames;
    bool in_trace = false;
    for (const std::string& line : lines) {
        if (!in_trace) {
            in_trace = line.find("Call Trace:") != std::string::npos;
            continue;
        }
        size_t first = line.find_first_not_of(' ');
        if (first == std::string::npos || first == 0) {
            // Frames are indented; anything else ends the trace (registers
            // of an exception frame are not indented either, but come after
            // the frame that took the exception).
            if (first == 0 && (starts_with(line, "RIP: ") || starts_with(line, "R") ||
                               starts_with(line, "Code: "))) {
                continue;
            }
            break;
        }
        std::string frame = line.substr(first);
        if (starts_with(frame, "? ") || frame[0] == '<') {
            continue;
        }
        frames.push_back(frame);
    }
    return frames;
}

std::optional<std::string> blamed_frame(const std::vector<std::string>& lines) {
    for (const std::string& frame : call_trace(lines)) {
        std::string fn = function_of(frame);
        if (!is_machinery(fn)) {
            return fn;
        }
    }
    return std::nullopt;
}

// The function of the first "RIP: 0010:fn+..." line (kernel mode).
std::optional<std::string> rip_function(const std::vector<std::string>& lines) {
    for (const std::string& line : lines) {
        size_t at = line.find("RIP: 0010:");
        if (at != std::string::npos) {
            return function_of(line.substr(at + 10));
        }
    }
    return std::nullopt;
}

std::optional<std::string> titled(const std::string& prefix, std::optional<std::string> fn) {
    if (!fn || fn->empty()) {
        return std::nullopt;
    }
    return prefix + " in " + *fn;
}

} // namespace

std::optional<std::string> report_title(const std::vector<ConsoleLine>& console, size_t from) {
    if (from >= console.size()) {
        return std::nullopt;
    }
    std::vector<std::string> lines;
    for (size_t i = from; i < console.size() && i < from + kReportWindow; ++i) {
        lines.push_back(strip_timestamp(console[i].text));
    }
    const std::string& first = lines[0];
    std::smatch m;
    static const std::regex kasan("^BUG: KASAN: ([a-z-]+) in ([A-Za-z0-9_.]+)");
    if (std::regex_search(first, m, kasan)) {
        std::string access;
        if (lines.size() > 1 && starts_with(lines[1], "Read of size")) {
            access = " Read";
        } else if (lines.size() > 1 && starts_with(lines[1], "Write of size")) {
            access = " Write";
        }
        std::optional<std::string> fn = blamed_frame(lines);
        return titled("KASAN: " + m[1].str() + access, fn ? fn : m[2].str());
    }
    if (starts_with(first, "general protection fault") ||
        starts_with(first, "KASAN: null-ptr-deref in range")) {
        return titled("general protection fault", rip_function(lines));
    }
    if (starts_with(first, "BUG: kernel NULL pointer dereference")) {
        return titled("BUG: unable to handle kernel NULL pointer dereference", rip_function(lines));
    }
    if (starts_with(first, "WARNING: possible circular locking dependency detected")) {
        // "repro/29 is trying to acquire lock:" then "ADDR (name){...}, at: fn+0x2c/0x60".
        static const std::regex at(", at: ([A-Za-z0-9_.]+)\\+");
        for (size_t i = 1; i + 1 < lines.size(); ++i) {
            if (lines[i].find(" is trying to acquire lock:") != std::string::npos &&
                std::regex_search(lines[i + 1], m, at)) {
                return titled("possible deadlock", m[1].str());
            }
        }
        return std::nullopt;
    }
    if (std::regex_search(first, std::regex("^INFO: task .* blocked for more than"))) {
        return titled("INFO: task hung", blamed_frame(lines));
    }
    if (starts_with(first, "refcount_t: ")) {
        return titled("WARNING: refcount bug", blamed_frame(lines));
    }
    return std::nullopt;
}

} // namespace krr
