// The condition codes of Jcc, SETcc and CMOVcc: the low four bits of the
// opcode, evaluated on RFLAGS.
#pragma once

#include "replay-engine/alu/status_flags.h"

namespace krr::alu {

enum class Condition : uint8_t {
    Overflow = 0x0,       // O
    NotOverflow = 0x1,    // NO
    Below = 0x2,          // B, C, NAE
    AboveOrEqual = 0x3,   // AE, NB, NC
    Equal = 0x4,          // E, Z
    NotEqual = 0x5,       // NE, NZ
    BelowOrEqual = 0x6,   // BE, NA
    Above = 0x7,          // A, NBE
    Sign = 0x8,           // S
    NotSign = 0x9,        // NS
    ParityEven = 0xa,     // P, PE
    ParityOdd = 0xb,      // NP, PO
    Less = 0xc,           // L, NGE
    GreaterOrEqual = 0xd, // GE, NL
    LessOrEqual = 0xe,    // LE, NG
    Greater = 0xf,        // G, NLE
};

// `cc` is taken modulo 16. Odd codes are the negation of the even code
// below them.
constexpr bool condition(uint8_t cc, uint64_t rflags) {
    const bool carry = (rflags & kCarryFlag) != 0;
    const bool zero = (rflags & kZeroFlag) != 0;
    const bool sign = (rflags & kSignFlag) != 0;
    const bool overflow = (rflags & kOverflowFlag) != 0;
    const bool parity = (rflags & kParityFlag) != 0;
    bool holds = false;
    switch ((cc & 0xf) >> 1) {
    case 0:
        holds = overflow;
        break;
    case 1:
        holds = carry;
        break;
    case 2:
        holds = zero;
        break;
    case 3:
        holds = carry || zero;
        break;
    case 4:
        holds = sign;
        break;
    case 5:
        holds = parity;
        break;
    case 6:
        holds = sign != overflow;
        break;
    default:
        holds = zero || sign != overflow;
        break;
    }
    return (cc & 1) ? !holds : holds;
}

constexpr bool condition(Condition cc, uint64_t rflags) {
    return condition(static_cast<uint8_t>(cc), rflags);
}

} // namespace krr::alu
