// Execution outside 64-bit mode: real mode and 16/32-bit protected mode, as
// far as the code that starts a CPU needs it (a secondary CPU begins in real
// mode at its STARTUP vector; Linux's trampoline goes through 16-bit and
// 32-bit code into long mode). docs/emulator.md lists what is covered.
#pragma once

#include "guest-model/machine_state.h"
#include "replay-engine/cpu/decoded_instruction.h"
#include "replay-engine/interpreter/interpreter.h"

namespace krr {

// The mode the CPU decodes and executes in: 64-bit when EFER.LMA and CS.L,
// 16-bit in real mode, else CS.D's size.
inline cpu::CpuMode execution_mode(const CpuState& cpu) {
    constexpr uint64_t kEferLma = 1ULL << 10, kCr0Pe = 1ULL << 0;
    if (cpu.seg[CS].l && (cpu.msr.efer & kEferLma)) {
        return cpu::CpuMode::Bits64;
    }
    if (!(cpu.cr0 & kCr0Pe) || !cpu.seg[CS].db) {
        return cpu::CpuMode::Bits16;
    }
    return cpu::CpuMode::Bits32;
}

// The handler of an instruction decoded in 16- or 32-bit mode, or nullptr
// when executing it there is not implemented.
InstructionHandler legacy_mode_handler(const cpu::DecodedInstruction& insn);

} // namespace krr
