// Bitwise logic: AND, OR, XOR, TEST, NOT. CF and OF are cleared; AF is
// undefined by the manuals and cleared by Intel CPUs (measured).
#pragma once

#include "replay-engine/alu/status_flags.h"

namespace krr::alu {

namespace detail {

template <Operand T>
constexpr AluResult<T> logic_result(T value) {
    return make_result(value, zero_sign_parity(value), kStatusFlags, kAdjustFlag);
}

} // namespace detail

template <Operand T>
constexpr AluResult<T> and_(T a, T b) {
    return detail::logic_result(static_cast<T>(a & b));
}

template <Operand T>
constexpr AluResult<T> or_(T a, T b) {
    return detail::logic_result(static_cast<T>(a | b));
}

template <Operand T>
constexpr AluResult<T> xor_(T a, T b) {
    return detail::logic_result(static_cast<T>(a ^ b));
}

// TEST: AND's flags, destination untouched.
template <Operand T>
constexpr AluResult<T> test(T a, T b) {
    AluResult<T> result = and_(a, b);
    result.destination_written = false;
    return result;
}

// NOT changes no flag.
template <Operand T>
constexpr AluResult<T> not_(T a) {
    return detail::make_result(static_cast<T>(~a), 0, 0);
}

} // namespace krr::alu
