// Kernel entries (exceptions, page faults, interrupts) waiting for the IRETQ
// that ends them. An entry is known by the task it interrupted and the
// frame the CPU pushed, so nested entries and entries of tasks that slept
// in the kernel each find their own return:
//
// - From kernel mode the IRET frame stays where the CPU pushed it (the
//   task's stack, the IRQ stack or an IST stack) and IRETQ pops it from
//   there, so the frame's address names the entry.
// - From user mode the kernel copies the frame to its task stack and back
//   to the entry trampoline before IRETQ, and IST entries (#DB) started on
//   another stack again; but a task is in the kernel from user mode only
//   once at a time, so the task alone names the entry (kFromUser).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace krr::activity {

// Which event an entry belongs to: the indexer's event list, or the log's
// input (interrupts are the log's events, their entries found later).
struct EntryRef {
    bool input = false;
    size_t index = 0;

    bool operator==(const EntryRef&) const = default;
};

class OpenEntries {
public:
    static constexpr uint64_t kFromUser = 0;

    // `frame`: the address of the frame's RIP slot, or kFromUser. A new
    // entry with the key of one still open replaces it: the old one never
    // returned (its task died, or its stack was unwound by an oops).
    void enter(uint64_t task, uint64_t frame, EntryRef entry);
    // The entry this IRETQ ends, now closed; nullopt when none is open
    // (a system call returning through IRETQ, a new task's first return,
    // an entry made before the recording started).
    std::optional<EntryRef> leave(uint64_t task, uint64_t frame);
    // A task starting (ret_from_fork) has nothing open: what a dead task
    // with the same task_struct address left open is dropped.
    void forget_task(uint64_t task);
    size_t size() const { return open_.size(); }

private:
    std::map<std::pair<uint64_t, uint64_t>, EntryRef> open_;
};

} // namespace krr::activity
