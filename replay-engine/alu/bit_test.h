// BT, BTS, BTR, BTC. CF receives the selected bit; ZF keeps its value; OF,
// SF, AF and PF are undefined and Intel CPUs leave them unchanged
// (measured), so only CF is written.
//
// The register forms (and every immediate form) take the bit offset modulo
// the operand width. The memory forms with a register offset can reach
// outside the operand: `split_bit_offset` turns that signed offset into the
// displacement of the operand-sized unit holding the bit and the bit within
// it; the caller adds the displacement to the effective address.
#pragma once

#include "replay-engine/alu/status_flags.h"

namespace krr::alu {

namespace detail {

template <Operand T>
constexpr AluResult<T> bit_test_result(T value, T base, uint64_t offset, bool writes) {
    const bool bit = ((base >> (offset & (kWidth<T> - 1))) & 1) != 0;
    AluResult<T> result = make_result(value, bit ? kCarryFlag : 0, kCarryFlag,
                                      kOverflowFlag | kSignFlag | kAdjustFlag | kParityFlag);
    result.destination_written = writes;
    return result;
}

template <Operand T>
constexpr T bit_mask(uint64_t offset) {
    return static_cast<T>(T{1} << (offset & (kWidth<T> - 1)));
}

} // namespace detail

template <Operand T>
constexpr AluResult<T> bt(T base, uint64_t offset) {
    return detail::bit_test_result(base, base, offset, false);
}

template <Operand T>
constexpr AluResult<T> bts(T base, uint64_t offset) {
    return detail::bit_test_result(static_cast<T>(base | detail::bit_mask<T>(offset)), base, offset,
                                   true);
}

template <Operand T>
constexpr AluResult<T> btr(T base, uint64_t offset) {
    return detail::bit_test_result(static_cast<T>(base & ~detail::bit_mask<T>(offset)), base,
                                   offset, true);
}

template <Operand T>
constexpr AluResult<T> btc(T base, uint64_t offset) {
    return detail::bit_test_result(static_cast<T>(base ^ detail::bit_mask<T>(offset)), base, offset,
                                   true);
}

struct BitAddress {
    int64_t byte_displacement = 0; // a multiple of the operand size, may be negative
    unsigned bit = 0;              // within the operand-sized unit at that displacement
};

// `bit_offset` is the offset register sign-extended from the operand size
// (16, 32 or 64 bits) to 64.
template <Operand T>
constexpr BitAddress split_bit_offset(int64_t bit_offset) {
    constexpr unsigned log2_width = kWidth<T> == 8    ? 3
                                    : kWidth<T> == 16 ? 4
                                    : kWidth<T> == 32 ? 5
                                                      : 6;
    // >> on a negative value rounds toward minus infinity (C++20), which is
    // what a bit below the base address needs.
    return {(bit_offset >> log2_width) * static_cast<int64_t>(sizeof(T)),
            static_cast<unsigned>(bit_offset & (kWidth<T> - 1))};
}

} // namespace krr::alu
