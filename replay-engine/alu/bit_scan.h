// BSF and BSR. A zero source sets ZF and leaves the destination register
// entirely untouched (measured on Intel: not even the upper half of a
// 64-bit register is cleared for a 32-bit operand, so `destination_written`
// is false). Only ZF is defined; Intel CPUs clear CF, OF, SF and AF and set
// PF from the bit index found (from 0 for a zero source) (measured).
#pragma once

#include "replay-engine/alu/status_flags.h"

#include <bit>

namespace krr::alu {

namespace detail {

template <Operand T>
constexpr AluResult<T> bit_scan_result(T destination, T source, unsigned index) {
    constexpr uint32_t undefined = kStatusFlags & ~kZeroFlag;
    if (source == 0) {
        AluResult<T> result =
            make_result(destination, kZeroFlag | parity_flag(0), kStatusFlags, undefined);
        result.destination_written = false;
        return result;
    }
    return make_result(static_cast<T>(index), parity_flag(index), kStatusFlags, undefined);
}

} // namespace detail

// The index of the lowest set bit of `source`.
template <Operand T>
constexpr AluResult<T> bsf(T destination, T source) {
    return detail::bit_scan_result(destination, source,
                                   static_cast<unsigned>(std::countr_zero(source)));
}

// The index of the highest set bit of `source`.
template <Operand T>
constexpr AluResult<T> bsr(T destination, T source) {
    const unsigned index =
        source == 0 ? 0 : kWidth<T> - 1 - static_cast<unsigned>(std::countl_zero(source));
    return detail::bit_scan_result(destination, source, index);
}

} // namespace krr::alu
