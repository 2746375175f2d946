// Addition and subtraction: ADD, ADC, SUB, SBB, CMP, NEG, INC, DEC, and the
// flag halves of XADD and CMPXCHG. Every flag is architecturally defined.
#pragma once

#include "replay-engine/alu/status_flags.h"

namespace krr::alu {

namespace detail {

// AF is the carry (or borrow) out of bit 3: bit 4 of a ^ b ^ result.
template <Operand T>
constexpr uint32_t adjust_flag(T a, T b, T result) {
    return ((a ^ b ^ result) & 0x10) ? kAdjustFlag : 0;
}

} // namespace detail

template <Operand T>
constexpr AluResult<T> add_with_carry(T a, T b, bool carry_in) {
    const T result = static_cast<T>(a + b + (carry_in ? 1 : 0));
    // The sum wrapped exactly when it is below an addend (or equal to it,
    // when a carry came in and b is all ones).
    const bool carry = carry_in ? result <= a : result < a;
    const bool overflow = sign_of(static_cast<T>((a ^ result) & (b ^ result)));
    const uint32_t flags = zero_sign_parity(result) | detail::adjust_flag(a, b, result) |
                           (carry ? kCarryFlag : 0) | (overflow ? kOverflowFlag : 0);
    return detail::make_result(result, flags, kStatusFlags);
}

template <Operand T>
constexpr AluResult<T> subtract_with_borrow(T a, T b, bool borrow_in) {
    const T result = static_cast<T>(a - b - (borrow_in ? 1 : 0));
    const bool borrow = borrow_in ? a <= b : a < b;
    const bool overflow = sign_of(static_cast<T>((a ^ b) & (a ^ result)));
    const uint32_t flags = zero_sign_parity(result) | detail::adjust_flag(a, b, result) |
                           (borrow ? kCarryFlag : 0) | (overflow ? kOverflowFlag : 0);
    return detail::make_result(result, flags, kStatusFlags);
}

template <Operand T>
constexpr AluResult<T> add(T a, T b) {
    return add_with_carry(a, b, false);
}

// ADC takes CF from the current RFLAGS.
template <Operand T>
constexpr AluResult<T> adc(T a, T b, uint64_t rflags) {
    return add_with_carry(a, b, (rflags & kCarryFlag) != 0);
}

template <Operand T>
constexpr AluResult<T> sub(T a, T b) {
    return subtract_with_borrow(a, b, false);
}

template <Operand T>
constexpr AluResult<T> sbb(T a, T b, uint64_t rflags) {
    return subtract_with_borrow(a, b, (rflags & kCarryFlag) != 0);
}

// CMP, and the comparison CMPXCHG makes between the accumulator and its
// destination: SUB's flags, destination untouched.
template <Operand T>
constexpr AluResult<T> cmp(T a, T b) {
    AluResult<T> result = sub(a, b);
    result.destination_written = false;
    return result;
}

// XADD: the destination receives the sum (and the source register the old
// destination, which is the caller's move); the flags are ADD's.
template <Operand T>
constexpr AluResult<T> xadd(T destination, T source) {
    return add(destination, source);
}

// NEG is 0 - a: CF is set unless a is zero, OF only for the most negative
// value.
template <Operand T>
constexpr AluResult<T> neg(T a) {
    return sub(T{0}, a);
}

// INC and DEC leave CF alone.
template <Operand T>
constexpr AluResult<T> inc(T a) {
    AluResult<T> result = add(a, T{1});
    result.written &= ~kCarryFlag;
    result.flags &= ~kCarryFlag;
    return result;
}

template <Operand T>
constexpr AluResult<T> dec(T a) {
    AluResult<T> result = sub(a, T{1});
    result.written &= ~kCarryFlag;
    result.flags &= ~kCarryFlag;
    return result;
}

} // namespace krr::alu
