// LAHF and SAHF: the low byte of RFLAGS (SF, ZF, AF, PF, CF and the fixed
// bit 1) to and from AH. OF is not in that byte.
#pragma once

#include "replay-engine/alu/status_flags.h"

namespace krr::alu {

inline constexpr uint32_t kFlagsByteMask =
    kSignFlag | kZeroFlag | kAdjustFlag | kParityFlag | kCarryFlag;
inline constexpr uint64_t kReservedFlagBit1 = 1u << 1; // always reads as 1

// The value LAHF loads into AH.
constexpr uint8_t lahf(uint64_t rflags) {
    return static_cast<uint8_t>((rflags & kFlagsByteMask) | kReservedFlagBit1);
}

// RFLAGS after SAHF with `ah`; bits 3 and 5 stay 0 and bit 1 stays 1.
constexpr uint64_t sahf(uint64_t rflags, uint8_t ah) {
    return (rflags & ~uint64_t{kFlagsByteMask}) | (ah & kFlagsByteMask) | kReservedFlagBit1;
}

} // namespace krr::alu
