// BSWAP. The 16-bit form is undefined by the manuals; Intel CPUs zero the
// low 16 bits (measured; bits 16..63 of the register are untouched, as for
// any 16-bit write). No flags change.
#pragma once

#include "replay-engine/alu/status_flags.h"

namespace krr::alu {

template <Operand T>
requires(sizeof(T) >= 2) constexpr T bswap(T value) {
    if constexpr (sizeof(T) == 2) {
        (void)value;
        return 0;
    } else {
        T swapped = 0;
        for (unsigned byte = 0; byte < sizeof(T); ++byte) {
            swapped = static_cast<T>(swapped << 8 | ((value >> (8 * byte)) & 0xff));
        }
        return swapped;
    }
}

} // namespace krr::alu
