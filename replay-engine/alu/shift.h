// Shifts: SHL/SAL, SHR, SAR, SHLD, SHRD.
//
// The CPU masks the count to 5 bits (6 for a 64-bit operand), so an 8- or
// 16-bit operand can be shifted by more than its width. A masked count of 0
// changes nothing, flags included. Otherwise CF is the last bit shifted out,
// SF/ZF/PF follow the result, and for the cases the manuals leave undefined
// Intel CPUs (measured on this project's hosts, see docs/emulator-alu.md):
// - clear AF;
// - set OF as the one-bit shift would, computed from the original operand,
//   whatever the count (SAR: 0);
// - shift as if in a wider register when the count reaches the width, so CF
//   is 0 once every bit has gone (SAR: the sign);
// - for SHLD/SHRD on 16 bits with a count above 16, shift through the
//   48-bit pattern destination:source:destination.
#pragma once

#include "replay-engine/alu/status_flags.h"

namespace krr::alu {

template <Operand T>
constexpr unsigned masked_shift_count(uint8_t count) {
    return count & (kWidth<T> == 64 ? 63u : 31u);
}

namespace detail {

constexpr bool bit_of(uint64_t value, unsigned bit) {
    return bit < 64 && ((value >> bit) & 1) != 0;
}

// Flags of a shift with a non-zero masked count.
template <Operand T>
constexpr AluResult<T> shift_result(T value, bool carry, bool overflow, unsigned count,
                                    uint32_t extra_undefined) {
    const uint32_t flags =
        zero_sign_parity(value) | (carry ? kCarryFlag : 0) | (overflow ? kOverflowFlag : 0);
    const uint32_t undefined = kAdjustFlag | (count != 1 ? kOverflowFlag : 0) | extra_undefined;
    return make_result(value, flags, kStatusFlags, undefined);
}

template <Operand T>
constexpr AluResult<T> unchanged(T value) {
    return make_result(value, 0, 0);
}

// OF of a one-bit left shift: whether the sign changed, i.e. the top two
// bits of the original differ.
template <Operand T>
constexpr bool left_shift_overflow(T original) {
    return bit_of(original, kWidth<T> - 1) != bit_of(original, kWidth<T> - 2);
}

} // namespace detail

template <Operand T>
constexpr AluResult<T> shl(T value, uint8_t count) {
    const unsigned n = masked_shift_count<T>(count);
    if (n == 0) {
        return detail::unchanged(value);
    }
    const uint64_t wide = value;
    const T result = static_cast<T>(n < 64 ? wide << n : 0);
    const bool carry = n <= kWidth<T> && detail::bit_of(wide, kWidth<T> - n);
    return detail::shift_result(result, carry, detail::left_shift_overflow(value), n,
                                n >= kWidth<T> ? kCarryFlag : 0);
}

template <Operand T>
constexpr AluResult<T> sal(T value, uint8_t count) {
    return shl(value, count);
}

template <Operand T>
constexpr AluResult<T> shr(T value, uint8_t count) {
    const unsigned n = masked_shift_count<T>(count);
    if (n == 0) {
        return detail::unchanged(value);
    }
    const uint64_t wide = value;
    const T result = static_cast<T>(wide >> n);
    const bool carry = detail::bit_of(wide, n - 1);
    return detail::shift_result(result, carry, sign_of(value), n, n >= kWidth<T> ? kCarryFlag : 0);
}

template <Operand T>
constexpr AluResult<T> sar(T value, uint8_t count) {
    const unsigned n = masked_shift_count<T>(count);
    if (n == 0) {
        return detail::unchanged(value);
    }
    // Sign-extend to 64 bits; C++20 defines >> on a negative value as the
    // arithmetic shift, and n is at most 63.
    const uint64_t fill = sign_of(value) ? ~uint64_t{0} << (kWidth<T> - 1) : 0;
    const uint64_t wide = uint64_t{value} | fill;
    const uint64_t shifted = static_cast<uint64_t>(static_cast<int64_t>(wide) >> n);
    const bool carry = detail::bit_of(wide, n - 1);
    return detail::shift_result(static_cast<T>(shifted), carry, false, n, 0);
}

// SHLD: shift `destination` left, filling from the top of `source`.
template <Operand T>
constexpr AluResult<T> shld(T destination, T source, uint8_t count) {
    const unsigned n = masked_shift_count<T>(count);
    if (n == 0) {
        return detail::unchanged(destination);
    }
    constexpr unsigned w = kWidth<T>;
    T result;
    bool carry;
    uint32_t extra_undefined = 0;
    if constexpr (w == 16) {
        // destination:source:destination, so counts 17..31 keep going.
        const uint64_t pattern = uint64_t{destination} << 32 | uint64_t{source} << 16 | destination;
        result = static_cast<T>(pattern >> (32 - n));
        carry = detail::bit_of(pattern, 48 - n);
        if (n > 16) {
            extra_undefined = kStatusFlags;
        }
    } else {
        // n < w here: the mask keeps 32- and 64-bit counts below the width.
        result = static_cast<T>(destination << n | source >> (w - n));
        carry = detail::bit_of(destination, w - n);
    }
    return detail::shift_result(result, carry, detail::left_shift_overflow(destination), n,
                                extra_undefined);
}

// SHRD: shift `destination` right, filling from the bottom of `source`.
template <Operand T>
constexpr AluResult<T> shrd(T destination, T source, uint8_t count) {
    const unsigned n = masked_shift_count<T>(count);
    if (n == 0) {
        return detail::unchanged(destination);
    }
    constexpr unsigned w = kWidth<T>;
    T result;
    bool carry;
    uint32_t extra_undefined = 0;
    if constexpr (w == 16) {
        const uint64_t pattern = uint64_t{destination} << 32 | uint64_t{source} << 16 | destination;
        result = static_cast<T>(pattern >> n);
        carry = detail::bit_of(pattern, n - 1);
        if (n > 16) {
            extra_undefined = kStatusFlags;
        }
    } else {
        result = static_cast<T>(destination >> n | source << (w - n));
        carry = detail::bit_of(destination, n - 1);
    }
    // The one-bit shift's OF: the old sign against the bit that moves into it.
    const bool overflow = sign_of(destination) != ((source & 1) != 0);
    return detail::shift_result(result, carry, overflow, n, extra_undefined);
}

} // namespace krr::alu
