// The privilege-changing control transfers of 64-bit code: IRETQ, SYSCALL,
// SYSRET, SYSENTER, SYSEXIT and far RET (LRETQ, which the kernel uses to
// reload CS at boot). SYSENTER and SYSRET/SYSEXIT to compatibility mode are
// how a 64-bit Linux serves 32-bit programs on Intel (its 32-bit vDSO enters
// with SYSENTER, since Intel has no SYSCALL outside 64-bit mode).
#pragma once

#include "guest-model/machine_state.h"
#include "replay-engine/mmu/linear_memory.h"

namespace krr {

// IRETQ with REX.W (64-bit frame: RIP, CS, RFLAGS, RSP, SS always popped).
void execute_iretq(CpuState& cpu, LinearMemory& memory);

// SYSCALL, with cpu.rip already pointing at the next instruction.
void execute_syscall(CpuState& cpu);

// SYSRET: with REX.W to 64-bit user code at RIP = RCX, without it to
// compatibility-mode code at EIP = ECX (CS = STAR[63:48], not + 16). Throws
// #GP for CPL != 0 or, to 64-bit code, a non-canonical RCX (Intel: the
// fault is taken at CPL 0).
void execute_sysret(CpuState& cpu, bool to_64bit);

// SYSENTER (SDM vol. 2B): CPL 0 at IA32_SYSENTER_EIP with the stack at
// IA32_SYSENTER_ESP (their low halves outside IA-32e mode), CS from
// IA32_SYSENTER_CS (64-bit code in IA-32e mode), SS = CS + 8; VM, IF and RF
// cleared; nothing saved. #GP(0) when CR0.PE is clear or the MSR's selector
// is null.
void execute_sysenter(CpuState& cpu);

// SYSEXIT: CPL 3 at RDX with the stack at RCX, CS = IA32_SYSENTER_CS + 32
// with REX.W (64-bit code; #GP(0) for a non-canonical RCX or RDX), + 16
// without (their low halves, 32-bit code), SS = CS + 8. #GP(0) at CPL != 0,
// without CR0.PE, or with a null selector in the MSR.
void execute_sysexit(CpuState& cpu, bool to_64bit);

// Far return with a 64-bit operand size, popping `extra_pop` more bytes
// (RET imm16) after CS.
void execute_far_return64(CpuState& cpu, LinearMemory& memory, uint16_t extra_pop);

// RFLAGS as POPF/IRET may change them at the current CPL and IOPL.
uint64_t merge_popped_flags(const CpuState& cpu, uint64_t old_flags, uint64_t popped, bool is_iret);

} // namespace krr
