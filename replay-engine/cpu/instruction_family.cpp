#include "replay-engine/cpu/instruction_family.h"

namespace krr::cpu {

const char* instruction_family_name(InstructionFamily family) {
    switch (family) {
    case InstructionFamily::Alu:
        return "alu";
    case InstructionFamily::Test:
        return "test";
    case InstructionFamily::IncDec:
        return "incdec";
    case InstructionFamily::Unary:
        return "unary";
    case InstructionFamily::MulDiv:
        return "muldiv";
    case InstructionFamily::Shift:
        return "shift";
    case InstructionFamily::BitTest:
        return "bittest";
    case InstructionFamily::BitScan:
        return "bitscan";
    case InstructionFamily::Mov:
        return "mov";
    case InstructionFamily::MovExtend:
        return "movextend";
    case InstructionFamily::Cmov:
        return "cmov";
    case InstructionFamily::Setcc:
        return "setcc";
    case InstructionFamily::Xchg:
        return "xchg";
    case InstructionFamily::Cmpxchg:
        return "cmpxchg";
    case InstructionFamily::Stack:
        return "stack";
    case InstructionFamily::Branch:
        return "branch";
    case InstructionFamily::String:
        return "string";
    case InstructionFamily::FlagOps:
        return "flagops";
    case InstructionFamily::Convert:
        return "convert";
    case InstructionFamily::Lea:
        return "lea";
    case InstructionFamily::Io:
        return "io";
    case InstructionFamily::Interrupt:
        return "interrupt";
    case InstructionFamily::Segment:
        return "segment";
    case InstructionFamily::System:
        return "system";
    case InstructionFamily::Hint:
        return "hint";
    case InstructionFamily::Fence:
        return "fence";
    case InstructionFamily::Cache:
        return "cache";
    case InstructionFamily::Fpu:
        return "fpu";
    case InstructionFamily::Mmx:
        return "mmx";
    case InstructionFamily::Sse:
        return "sse";
    case InstructionFamily::Avx:
        return "avx";
    case InstructionFamily::Misc:
        return "misc";
    case InstructionFamily::Invalid:
        return "invalid";
    }
    return "unknown";
}

} // namespace krr::cpu
