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
    Interrupt = 4,     // code: vector (a logged delivery); address: interrupted rip;
                       // text: "comm[pid]" interrupted, when its entry was seen
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
    // Where the kernel went back to what the event interrupted (0: not
    // seen, e.g. exit_group, an oops, or the trace ended first). For a
    // system call, its exit to user mode; for an exception, a page fault or
    // an interrupt, the IRETQ that popped its frame.
    uint64_t returned_at = 0;
    // A system call's result (RAX as returned); for the others the RIP the
    // IRETQ went back to (another than the faulting one after a fixup or a
    // signal).
    uint64_t result = 0;

    bool operator==(const ActivityEvent&) const = default;
};

// One line for people: "getpid(0x3, ...)", "page fault at 0x... (write)",
// "switch to sh[42]", ... `syscall_name` comes from syscall_names.h.
std::string describe_event(const ActivityEvent& event);

} // namespace krr::activity
