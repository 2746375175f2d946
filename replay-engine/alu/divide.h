// DIV and IDIV: a double-width dividend (AH:AL, DX:AX, EDX:EAX, RDX:RAX)
// divided by the operand. A zero divisor or a quotient that does not fit the
// operand size (INT_MIN / -1 included) raises #DE, and then no register
// changes. Every status flag is undefined; Intel CPUs leave all six unchanged
// (measured), so nothing is written.
#pragma once

#include "replay-engine/alu/multiply.h"
#include "replay-engine/alu/status_flags.h"

namespace krr::alu {

template <Operand T>
struct DivideResult : FlagUpdate {
    bool divide_error = false; // #DE: quotient and remainder are meaningless
    T quotient{};
    T remainder{};
};

namespace detail {

template <Operand T>
constexpr DivideResult<T> divide_result(bool divide_error, T quotient, T remainder) {
    DivideResult<T> result;
    result.divide_error = divide_error;
    result.quotient = quotient;
    result.remainder = remainder;
    result.written = 0;
    result.undefined = kStatusFlags;
    return result;
}

} // namespace detail

template <Operand T>
constexpr DivideResult<T> div(T dividend_high, T dividend_low, T divisor) {
    // The quotient fits exactly when the high half is below the divisor;
    // this also catches divisor 0.
    if (dividend_high >= divisor) {
        return detail::divide_result(true, T{0}, T{0});
    }
    using Wide = detail::DoubleWidth<T>;
    const Wide dividend = static_cast<Wide>(Wide{dividend_high} << kWidth<T> | dividend_low);
    return detail::divide_result(false, static_cast<T>(dividend / divisor),
                                 static_cast<T>(dividend % divisor));
}

template <Operand T>
constexpr DivideResult<T> idiv(T dividend_high, T dividend_low, T divisor) {
    using Wide = detail::SignedDoubleWidth<T>;
    using UnsignedWide = detail::DoubleWidth<T>;
    using Narrow = detail::Signed<T>;
    if (divisor == 0) {
        return detail::divide_result(true, T{0}, T{0});
    }
    const Wide dividend = static_cast<Wide>(
        static_cast<UnsignedWide>(UnsignedWide{dividend_high} << kWidth<T> | dividend_low));
    const Wide signed_divisor = static_cast<Narrow>(divisor);
    // The most negative dividend divided by -1 overflows even the double
    // width; its quotient is out of range anyway.
    const UnsignedWide most_negative = UnsignedWide{1} << (2 * kWidth<T> - 1);
    if (signed_divisor == -1 && static_cast<UnsignedWide>(dividend) == most_negative) {
        return detail::divide_result(true, T{0}, T{0});
    }
    const Wide quotient = dividend / signed_divisor;
    const Wide remainder = dividend % signed_divisor;
    if (quotient != Wide{static_cast<Narrow>(static_cast<T>(quotient))}) {
        return detail::divide_result(true, T{0}, T{0});
    }
    return detail::divide_result(false, static_cast<T>(quotient), static_cast<T>(remainder));
}

} // namespace krr::alu
