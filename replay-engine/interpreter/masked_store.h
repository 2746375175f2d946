// The implicit store of MASKMOVQ and MASKMOVDQU: the bytes of a register
// whose mask byte has its top bit set go to DS:rDI (FS/GS with an override).
#pragma once

#include "replay-engine/interpreter/interpreter.h"

#include <cstdint>
#include <span>

namespace krr {

// `data` and `mask` are as wide as the destination (8 or 16 bytes).
void store_masked_bytes(Interpreter& in, const cpu::DecodedInstruction& insn,
                        std::span<const uint8_t> data, std::span<const uint8_t> mask);

} // namespace krr
