// What the indexing pass reads from the kernel where the replay stopped:
// the exception entry points and their vectors, the saved user registers,
// and a task's pid and name. Layouts that are ABI (the IDT vectors, the
// uapi struct pt_regs) are constants here; those that are not
// (task_struct) come from DWARF (task_layout.h).
#pragma once

#include "activity/activity_index.h"
#include "replay-engine/replay/replay_session.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace krr::activity {

// An asm_exc_<name> handler and its vector; those marked push an error
// code, so the faulting RIP sits one slot higher on the stack.
struct ExceptionHandler {
    const char* name;
    uint8_t vector;
    bool error_code;
};
std::span<const ExceptionHandler> exception_handlers();

// struct pt_regs (the x86-64 uapi layout): where the entry code saved RAX
// (the result, on the way out) and the system call number.
inline constexpr uint64_t kPtRegsAx = 0x50;
inline constexpr uint64_t kPtRegsOrigAx = 0x78;
// The frame an exception or interrupt pushes and IRETQ pops: RIP, CS,
// RFLAGS, RSP, SS, 8 bytes each (from the RIP slot).
inline constexpr uint64_t kIretFrameCs = 8;

// Guest-virtual reads through the current page tables; 0 when unmapped.
uint64_t read_u64(ReplaySession& session, uint64_t address);

struct TaskName {
    uint32_t pid = 0;
    std::string comm;
};
std::optional<TaskName> read_task(ReplaySession& session, const TaskLayout& layout, uint64_t task);

// The per-CPU current_task at per-CPU `offset` (System.map's address of
// current_task, up to 6.1); 0 when unreadable.
uint64_t read_current_task(ReplaySession& session, uint64_t offset);

} // namespace krr::activity
