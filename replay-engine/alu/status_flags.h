// The six arithmetic status flags of RFLAGS, the operand widths the ALU
// works on, and what every ALU function hands back: a result plus the flags
// it writes. Callers merge the flags into RFLAGS with `merged_into`, so an
// instruction that leaves a flag alone (INC and CF, a shift by zero, MUL and
// ZF on no CPU at all) cannot clobber it by accident.
#pragma once

#include <array>
#include <concepts>
#include <cstdint>

namespace krr::alu {

// RFLAGS bit positions.
inline constexpr uint32_t kCarryFlag = 1u << 0;
inline constexpr uint32_t kParityFlag = 1u << 2;
inline constexpr uint32_t kAdjustFlag = 1u << 4; // AF, the carry out of bit 3
inline constexpr uint32_t kZeroFlag = 1u << 6;
inline constexpr uint32_t kSignFlag = 1u << 7;
inline constexpr uint32_t kOverflowFlag = 1u << 11;
inline constexpr uint32_t kStatusFlags =
    kCarryFlag | kParityFlag | kAdjustFlag | kZeroFlag | kSignFlag | kOverflowFlag;

// The operand sizes of the general-purpose instructions.
template <class T>
concept Operand = std::same_as<T, uint8_t> || std::same_as<T, uint16_t> ||
    std::same_as<T, uint32_t> || std::same_as<T, uint64_t>;

template <Operand T>
inline constexpr unsigned kWidth = 8 * sizeof(T);

template <Operand T>
inline constexpr T kSignBit = static_cast<T>(T{1} << (kWidth<T> - 1));

template <Operand T>
constexpr bool sign_of(T value) {
    return (value & kSignBit<T>) != 0;
}

// The flags an instruction produces. `written` names the status flags the
// instruction sets (to the values in `flags`); the others keep their old
// values. `undefined` names the status flags the architecture manuals leave
// undefined for this instruction and these operands: `flags` holds what an
// Intel CPU produces for them, which an AMD CPU may not.
struct FlagUpdate {
    uint32_t flags = 0;
    uint32_t written = 0;
    uint32_t undefined = 0;

    constexpr uint64_t merged_into(uint64_t rflags) const {
        return (rflags & ~uint64_t{written}) | (flags & written);
    }
};

template <Operand T>
struct AluResult : FlagUpdate {
    T value{};
    // False where the instruction leaves its destination register untouched
    // (CMP, TEST, BT, and BSF/BSR with a zero source, which on Intel do not
    // even clear the upper half of a 64-bit register for a 32-bit operand).
    bool destination_written = true;
};

// The double-width result of a one-operand MUL/IMUL: AH:AL, DX:AX, EDX:EAX
// or RDX:RAX.
template <Operand T>
struct WideResult : FlagUpdate {
    T low{};
    T high{};
};

namespace detail {

inline constexpr std::array<bool, 256> kEvenParity = [] {
    std::array<bool, 256> table{};
    for (unsigned byte = 0; byte < 256; ++byte) {
        unsigned ones = 0;
        for (unsigned bit = 0; bit < 8; ++bit) {
            ones += (byte >> bit) & 1;
        }
        table[byte] = ones % 2 == 0;
    }
    return table;
}();

template <Operand T>
constexpr AluResult<T> make_result(T value, uint32_t flags, uint32_t written,
                                   uint32_t undefined = 0) {
    AluResult<T> result;
    result.value = value;
    result.flags = flags & written;
    result.written = written;
    result.undefined = undefined;
    return result;
}

} // namespace detail

// PF looks at the low byte only, whatever the operand size.
constexpr uint32_t parity_flag(uint64_t value) {
    return detail::kEvenParity[value & 0xff] ? kParityFlag : 0;
}

// ZF, SF and PF as every result-producing instruction defines them.
template <Operand T>
constexpr uint32_t zero_sign_parity(T value) {
    return (value == 0 ? kZeroFlag : 0) | (sign_of(value) ? kSignFlag : 0) | parity_flag(value);
}

} // namespace krr::alu
