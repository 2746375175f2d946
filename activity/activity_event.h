// What the activity index records: one thing the kernel did (or that
// happened to it), with the timeline position where it happened. The
// position is the full TimelinePosition, not only the instruction count, so
// that seeking to an event lands on it even when it came from an exception
// delivered without an instruction retiring.
#pragma once

#include "replay-engine/replay/timeline_position.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace krr::activity {

// The numbers are on disk.
enum class EventKind : uint8_t {
    Syscall = 1,       // code: number; args: rdi, rsi, rdx; address: user rip (rcx);
                       // text: "comm[pid]" of the caller, when known
    Exception = 2,     // code: vector; address: faulting rip; text: handler name
    PageFault = 3,     // address: cr2; args[0]: error code; args[1]: faulting rip;
                       // text: "comm[pid]", when known
    Interrupt = 4,     // code: vector (a logged delivery)
    ContextSwitch = 5, // code: next pid; address: next task_struct; args[0]: cr3; text: comm
    Console = 6,       // text: the line; position: where its newline was written
    Input = 7,         // code: input kind; address: port/address; args[0]: value
    Crash = 8,         // text: the console line that starts the oops or panic
};
inline constexpr uint8_t kFirstEventKind = 1;
inline constexpr uint8_t kLastEventKind = 8;

// "syscall", "exception", "page-fault", "interrupt", "switch", "console",
// "input", "crash".
std::string_view event_kind_name(EventKind kind);
std::optional<EventKind> event_kind_from_name(std::string_view name);
std::vector<EventKind> all_event_kinds();

struct ActivityEvent {
    EventKind kind = EventKind::Syscall;
    uint32_t vcpu = 0;
    TimelinePosition position;
    uint64_t code = 0;
    uint64_t address = 0;
    std::array<uint64_t, 3> args{};
    std::string text;
    // For a system call: where the kernel went back to user mode with its
    // result (0: not seen, e.g. exit_group, or the trace ended first).
    uint64_t returned_at = 0;
    uint64_t result = 0; // RAX as returned

    bool operator==(const ActivityEvent&) const = default;
};

// One line for people: "getpid(0x3, ...)", "page fault at 0x... (write)",
// "switch to sh[42]", ... `syscall_name` comes from syscall_names.h.
std::string describe_event(const ActivityEvent& event);

} // namespace krr::activity
