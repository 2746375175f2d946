// Widening moves and the accumulator conversions: MOVSX/MOVSXD, MOVZX,
// CBW/CWDE/CDQE (within the accumulator) and CWD/CDQ/CQO (the D register
// filled with the accumulator's sign). None changes a flag.
#pragma once

#include "replay-engine/alu/status_flags.h"

#include <type_traits>

namespace krr::alu {

template <Operand To, Operand From>
requires(sizeof(To) >= sizeof(From)) constexpr To sign_extend(From value) {
    return static_cast<To>(
        static_cast<std::make_signed_t<To>>(static_cast<std::make_signed_t<From>>(value)));
}

template <Operand To, Operand From>
requires(sizeof(To) >= sizeof(From)) constexpr To zero_extend(From value) {
    return static_cast<To>(value);
}

// CBW: AX from AL.
constexpr uint16_t cbw(uint8_t al) {
    return sign_extend<uint16_t>(al);
}
// CWDE: EAX from AX.
constexpr uint32_t cwde(uint16_t ax) {
    return sign_extend<uint32_t>(ax);
}
// CDQE: RAX from EAX.
constexpr uint64_t cdqe(uint32_t eax) {
    return sign_extend<uint64_t>(eax);
}

// CWD/CDQ/CQO: the value written to DX/EDX/RDX, all ones when the
// accumulator is negative, else zero.
template <Operand T>
requires(sizeof(T) >= 2) constexpr T sign_fill(T accumulator) {
    return sign_of(accumulator) ? static_cast<T>(~T{0}) : T{0};
}

constexpr uint16_t cwd(uint16_t ax) {
    return sign_fill(ax);
}
constexpr uint32_t cdq(uint32_t eax) {
    return sign_fill(eax);
}
constexpr uint64_t cqo(uint64_t rax) {
    return sign_fill(rax);
}

} // namespace krr::alu
