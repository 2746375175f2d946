// Which execution room an instruction belongs to. Handlers are grouped by
// family (one source file each, as the instruction set is cut in the SDM),
// so the family is what tells a reader where an opcode is executed.
#pragma once

#include <cstdint>

namespace krr::cpu {

enum class InstructionFamily : uint8_t {
    Alu,       // add, or, adc, sbb, and, sub, xor, cmp
    Test,      // test
    IncDec,    // inc, dec
    Unary,     // not, neg
    MulDiv,    // mul, imul, div, idiv
    Shift,     // rotates, shifts, shld, shrd
    BitTest,   // bt, bts, btr, btc
    BitScan,   // bsf, bsr, tzcnt, lzcnt, popcnt
    Mov,       // mov, movnti, movbe
    MovExtend, // movzx, movsx, movsxd
    Cmov,      // cmovcc
    Setcc,     // setcc
    Xchg,      // xchg, xadd
    Cmpxchg,   // cmpxchg, cmpxchg8b, cmpxchg16b
    Stack,     // push, pop, enter, leave
    Branch,    // jmp, jcc, call, ret, loop, far transfers
    String,    // movs, cmps, stos, lods, scas, ins, outs
    FlagOps,   // clc..std, cmc, pushf, popf, sahf, lahf
    Convert,   // cbw/cwde/cdqe, cwd/cdq/cqo
    Lea,       // lea
    Io,        // in, out
    Interrupt, // int, int1, int3, iret
    Segment,   // mov to/from segment registers, lar, lsl, lss/lfs/lgs
    System,    // control registers, MSRs, descriptor tables, hlt, cpuid, syscall, ...
    Hint,      // nop forms, pause, prefetches, endbr
    Fence,     // lfence, mfence, sfence
    Cache,     // clflush, clflushopt, clwb
    Fpu,       // x87, fxsave/fxrstor
    Mmx,       // MMX registers
    Sse,       // XMM registers
    Avx,       // VEX and EVEX encoded instructions
    Misc,      // bswap, xlat, crc32
    Invalid,   // raises #UD on every CPU (ud0, ud1, ud2, opcodes removed in 64-bit mode)
};

const char* instruction_family_name(InstructionFamily family);

} // namespace krr::cpu
