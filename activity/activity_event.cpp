#include "activity/activity_event.h"

#include "activity/syscall_names.h"

#include <cstdio>

namespace krr::activity {

namespace {

constexpr std::string_view kNames[] = {"syscall", "exception", "page-fault", "interrupt",
                                       "switch",  "console",   "input",      "crash"};

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

// Page-fault error code bits, as the CPU pushes them.
std::string fault_access(uint64_t error_code) {
    std::string s = (error_code & 2) ? "write" : ((error_code & 16) ? "fetch" : "read");
    s += (error_code & 4) ? ", user" : ", kernel";
    if (error_code & 1) {
        s += ", protection";
    } else {
        s += ", not present";
    }
    return s;
}

// How long an exception or interrupt kept the kernel busy, and where it
// went back to when that is not where it came from.
std::string return_text(const ActivityEvent& e, uint64_t from_rip) {
    if (!e.returned_at) {
        return "";
    }
    std::string s = " ret +" + std::to_string(e.returned_at - e.position.instructions);
    return e.result == from_rip ? s : s + " to " + hex(e.result);
}

} // namespace

std::string_view event_kind_name(EventKind kind) {
    auto i = static_cast<size_t>(kind);
    return i >= kFirstEventKind && i <= kLastEventKind ? kNames[i - 1] : "unknown";
}

std::optional<EventKind> event_kind_from_name(std::string_view name) {
    for (size_t i = 0; i < std::size(kNames); ++i) {
        if (kNames[i] == name) {
            return static_cast<EventKind>(i + 1);
        }
    }
    return std::nullopt;
}

std::vector<EventKind> all_event_kinds() {
    std::vector<EventKind> kinds;
    for (uint8_t k = kFirstEventKind; k <= kLastEventKind; ++k) {
        kinds.push_back(static_cast<EventKind>(k));
    }
    return kinds;
}

std::string describe_event(const ActivityEvent& e) {
    switch (e.kind) {
    case EventKind::Syscall: {
        std::string_view name = syscall_name(e.code);
        std::string s = name.empty() ? "syscall " + std::to_string(e.code) : std::string(name);
        s += "(" + hex(e.args[0]) + ", " + hex(e.args[1]) + ", " + hex(e.args[2]) + ")";
        if (e.returned_at) {
            // Errors are -errno in RAX; counts, fds and pids read better in
            // decimal, addresses in hex.
            const auto value = static_cast<int64_t>(e.result);
            const bool small = value >= -4095 && value < 0x10000;
            s += " = " + (small ? std::to_string(value) : hex(e.result));
        }
        return e.text.empty() ? s : s + " by " + e.text;
    }
    case EventKind::Exception:
        return e.text + " (vector " + std::to_string(e.code) + ") at " + hex(e.address) +
               return_text(e, e.address);
    case EventKind::PageFault:
        return "page fault at " + hex(e.address) + " (" + fault_access(e.args[0]) + ") from " +
               hex(e.args[1]) + (e.text.empty() ? "" : " by " + e.text) + return_text(e, e.args[1]);
    case EventKind::Interrupt: {
        std::string s = "interrupt vector " + std::to_string(e.code) + " (" + hex(e.code) + ")";
        if (e.address) {
            s += " at " + hex(e.address);
        }
        return s + (e.text.empty() ? "" : " in " + e.text) + return_text(e, e.address);
    }
    case EventKind::ContextSwitch:
        if (e.text.empty()) {
            return "switch to task " + hex(e.address) + " (cr3 " + hex(e.args[0]) + ")";
        }
        return "switch to " + e.text + "[" + std::to_string(e.code) + "] (cr3 " + hex(e.args[0]) +
               ")";
    case EventKind::Console:
        return e.text;
    case EventKind::Input:
        return e.text + " " + hex(e.address) + " = " + hex(e.args[0]);
    case EventKind::Crash:
        return "CRASH: " + e.text;
    }
    return "?";
}

} // namespace krr::activity
