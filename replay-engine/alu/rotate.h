// Rotates: ROL, ROR, RCL, RCR. Only CF and OF are written; SF, ZF, AF and
// PF keep their values.
//
// The count is masked to 5 bits (6 for a 64-bit operand). ROL/ROR then
// rotate by the masked count modulo the width, but write CF and OF whenever
// the masked count is non-zero, even when the rotation is a whole turn.
// RCL/RCR on 8 and 16 bits rotate through CF, a 9- or 17-bit ring, by the
// masked count modulo 9 or 17, and write nothing when that is 0.
//
// OF is defined for one-bit rotates only; for other counts Intel CPUs set it
// as the first one-bit step would (measured): from the original operand, not
// from the result.
#pragma once

#include "replay-engine/alu/shift.h"
#include "replay-engine/alu/status_flags.h"

namespace krr::alu {

namespace detail {

template <Operand T>
constexpr AluResult<T> rotate_result(T value, bool carry, bool overflow, unsigned masked_count) {
    const uint32_t flags = (carry ? kCarryFlag : 0) | (overflow ? kOverflowFlag : 0);
    return make_result(value, flags, kCarryFlag | kOverflowFlag,
                       masked_count != 1 ? kOverflowFlag : 0);
}

template <Operand T>
constexpr T rotate_left(T value, unsigned n) {
    n %= kWidth<T>;
    return n == 0 ? value : static_cast<T>(value << n | value >> (kWidth<T> - n));
}

} // namespace detail

template <Operand T>
constexpr AluResult<T> rol(T value, uint8_t count) {
    const unsigned n = masked_shift_count<T>(count);
    if (n == 0) {
        return detail::unchanged(value);
    }
    const T result = detail::rotate_left(value, n);
    return detail::rotate_result(result, (result & 1) != 0, detail::left_shift_overflow(value), n);
}

template <Operand T>
constexpr AluResult<T> ror(T value, uint8_t count) {
    const unsigned n = masked_shift_count<T>(count);
    if (n == 0) {
        return detail::unchanged(value);
    }
    const T result = detail::rotate_left(value, kWidth<T> - n % kWidth<T>);
    // A one-bit ROR moves bit 0 into the sign.
    const bool overflow = sign_of(value) != ((value & 1) != 0);
    return detail::rotate_result(result, sign_of(result), overflow, n);
}

// The ring length RCL/RCR reduce an 8- or 16-bit count by.
template <Operand T>
constexpr unsigned rotate_through_carry_count(uint8_t count) {
    const unsigned n = masked_shift_count<T>(count);
    return kWidth<T> <= 16 ? n % (kWidth<T> + 1) : n;
}

// RCL and RCR take CF from the current RFLAGS.
template <Operand T>
constexpr AluResult<T> rcl(T value, uint8_t count, uint64_t rflags) {
    const unsigned masked = masked_shift_count<T>(count);
    const unsigned n = rotate_through_carry_count<T>(count);
    if (n == 0) {
        return detail::unchanged(value);
    }
    constexpr unsigned w = kWidth<T>;
    const uint64_t carry_in = rflags & kCarryFlag;
    const uint64_t wide = value;
    // n is 1..w: the ring [CF, value] rotated left by n.
    uint64_t result = (n < 64 ? wide << n : 0) | carry_in << (n - 1);
    if (n > 1) {
        result |= wide >> (w - n + 1);
    }
    const bool carry = detail::bit_of(wide, w - n);
    return detail::rotate_result(static_cast<T>(result), carry, detail::left_shift_overflow(value),
                                 masked);
}

template <Operand T>
constexpr AluResult<T> rcr(T value, uint8_t count, uint64_t rflags) {
    const unsigned masked = masked_shift_count<T>(count);
    const unsigned n = rotate_through_carry_count<T>(count);
    if (n == 0) {
        return detail::unchanged(value);
    }
    constexpr unsigned w = kWidth<T>;
    const uint64_t carry_in = rflags & kCarryFlag;
    const uint64_t wide = value;
    uint64_t result = (n < 64 ? wide >> n : 0) | carry_in << (w - n);
    if (n > 1) {
        result |= wide << (w - n + 1);
    }
    const bool carry = detail::bit_of(wide, n - 1);
    // A one-bit RCR moves the old CF into the sign.
    const bool overflow = sign_of(value) != (carry_in != 0);
    return detail::rotate_result(static_cast<T>(result), carry, overflow, masked);
}

} // namespace krr::alu
