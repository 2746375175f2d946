// The privilege-changing control transfers of 64-bit code: IRETQ, SYSCALL,
// SYSRET and far RET (LRETQ, which the kernel uses to reload CS at boot).
#pragma once

#include "guest-model/machine_state.h"
#include "replay-engine/mmu/linear_memory.h"

namespace krr {

// IRETQ with REX.W (64-bit frame: RIP, CS, RFLAGS, RSP, SS always popped).
void execute_iretq(CpuState& cpu, LinearMemory& memory);

// SYSCALL, with cpu.rip already pointing at the next instruction.
void execute_syscall(CpuState& cpu);

// SYSRET with REX.W (return to 64-bit user code). Throws #GP for a
// non-canonical RCX (Intel: the fault is taken at CPL 0) or CPL != 0.
void execute_sysret64(CpuState& cpu);

// Far return with a 64-bit operand size, popping `extra_pop` more bytes
// (RET imm16) after CS.
void execute_far_return64(CpuState& cpu, LinearMemory& memory, uint16_t extra_pop);

// RFLAGS as POPF/IRET may change them at the current CPL and IOPL.
uint64_t merge_popped_flags(const CpuState& cpu, uint64_t old_flags, uint64_t popped, bool is_iret);

} // namespace krr
