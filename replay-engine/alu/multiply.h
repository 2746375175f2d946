// MUL and IMUL. CF and OF say whether the product needed the high half
// (MUL: high half non-zero; IMUL: product differs from its sign-extended low
// half). SF, ZF, AF and PF are undefined by the manuals; Intel CPUs set SF
// from the top bit of the low half, PF from its low byte, and clear ZF and
// AF whatever the product (measured).
#pragma once

#include "replay-engine/alu/status_flags.h"

#include <type_traits>

namespace krr::alu {

namespace detail {

__extension__ using Uint128 = unsigned __int128;
__extension__ using Int128 = __int128;

// An unsigned type twice as wide as T.
template <Operand T>
using DoubleWidth =
    std::conditional_t<sizeof(T) == 1, uint16_t,
                       std::conditional_t<sizeof(T) == 2, uint32_t,
                                          std::conditional_t<sizeof(T) == 4, uint64_t, Uint128>>>;

template <Operand T>
using SignedDoubleWidth =
    std::conditional_t<sizeof(T) == 1, int16_t,
                       std::conditional_t<sizeof(T) == 2, int32_t,
                                          std::conditional_t<sizeof(T) == 4, int64_t, Int128>>>;

template <Operand T>
using Signed = std::make_signed_t<T>;

template <Operand T>
constexpr uint32_t multiply_flags(T low, bool overflow) {
    return (sign_of(low) ? kSignFlag : 0) | parity_flag(low) |
           (overflow ? kCarryFlag | kOverflowFlag : 0);
}

inline constexpr uint32_t kMultiplyUndefined = kSignFlag | kZeroFlag | kAdjustFlag | kParityFlag;

template <Operand T>
constexpr WideResult<T> wide_result(T low, T high, bool overflow) {
    WideResult<T> result;
    result.low = low;
    result.high = high;
    result.flags = multiply_flags(low, overflow);
    result.written = kStatusFlags;
    result.undefined = kMultiplyUndefined;
    return result;
}

} // namespace detail

// One-operand MUL: accumulator * source, unsigned, into high:low.
template <Operand T>
constexpr WideResult<T> mul(T accumulator, T source) {
    using Wide = detail::DoubleWidth<T>;
    const Wide product = static_cast<Wide>(Wide{accumulator} * Wide{source});
    const T low = static_cast<T>(product);
    const T high = static_cast<T>(product >> kWidth<T>);
    return detail::wide_result(low, high, high != 0);
}

// One-operand IMUL: accumulator * source, signed, into high:low.
template <Operand T>
constexpr WideResult<T> imul_widening(T accumulator, T source) {
    using Wide = detail::SignedDoubleWidth<T>;
    using Narrow = detail::Signed<T>;
    const Wide product = static_cast<Wide>(Wide{static_cast<Narrow>(accumulator)} *
                                           Wide{static_cast<Narrow>(source)});
    const T low = static_cast<T>(product);
    const T high = static_cast<T>(static_cast<detail::DoubleWidth<T>>(product) >> kWidth<T>);
    const bool overflow = product != Wide{static_cast<Narrow>(low)};
    return detail::wide_result(low, high, overflow);
}

// Two- and three-operand IMUL (the immediate already sign-extended to the
// operand size by the decoder): the low half only, flags as the widening
// form.
template <Operand T>
constexpr AluResult<T> imul_truncating(T a, T b) {
    const WideResult<T> wide = imul_widening(a, b);
    return detail::make_result(wide.low, wide.flags, wide.written, wide.undefined);
}

} // namespace krr::alu
