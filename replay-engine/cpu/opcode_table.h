// The opcode table: one row per opcode form, read from opcode_table.def,
// and the index the decoder looks rows up by (map and opcode byte).
#pragma once

#include "replay-engine/cpu/cpu_feature.h"
#include "replay-engine/cpu/instruction_family.h"
#include "replay-engine/cpu/opcode.h"
#include "replay-engine/cpu/operand_spec.h"

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace krr::cpu {

enum class OpcodeMap : uint8_t { OneByte, Map0F, Map0F38, Map0F3A };
inline constexpr int kOpcodeMapCount = 4;

// Which of 66/F3/F2 selects the row. Outside `Any`, the prefix is part of
// the opcode (a "mandatory prefix") rather than an operand-size override or
// a repeat.
enum class MandatoryPrefix : uint8_t {
    Any,  // prefixes keep their ordinary meaning
    None, // the SDM's NP: no 66, F2 or F3
    P66,
    F3,
    F2,
};

enum class ModRequirement : uint8_t { Any, Memory, Register };

// The ModRM fields that act as part of the opcode.
struct ModrmSelector {
    int8_t reg = -1; // ModRM.reg as an opcode extension ("/digit"), or -1
    int8_t rm = -1;  // ModRM.rm with mod=3 as an extension, or -1
    ModRequirement mod = ModRequirement::Any;
    bool present = false; // ModRM follows even if no operand names it
};

enum class OperandSizeRule : uint8_t {
    Normal,    // 32 bits; 66 gives 16; REX.W gives 64
    Default64, // 64 bits; 66 gives 16 (push, pop, pushf, enter, leave)
    Force64,   // always 64 bits (near branches, control registers)
};

namespace row_attribute {
inline constexpr uint8_t kLockable = 1;
// ModRM.mod is ignored and rm always names a register (MOV to/from CR/DR).
inline constexpr uint8_t kModIgnored = 2;
// The row applies only without REX.B: 90 is NOP (or PAUSE), 41 90 is xchg.
inline constexpr uint8_t kNoRexB = 4;
// The mnemonic variants follow the address size, not the operand size.
inline constexpr uint8_t kAddressVariant = 8;
// The row exists only outside 64-bit mode (push es, inc r32, daa, ...).
inline constexpr uint8_t kLegacyOnly = 16;
// The row exists only in 64-bit mode (movsxd, the #UD rows of removed opcodes).
inline constexpr uint8_t kLongModeOnly = 32;
} // namespace row_attribute

struct OpcodeRow {
    OpcodeId id{};
    // "add", or size variants "movsw|movsd|movsq" (16|32|64)
    std::string_view mnemonic;
    OpcodeMap map{};
    uint8_t opcode = 0;
    MandatoryPrefix prefix{};
    ModrmSelector modrm;
    std::array<OperandSpec, 3> operands{};
    OperandSizeRule size_rule{};
    InstructionFamily family{};
    CpuFeature feature{};
    uint8_t attributes = 0;

    // Derived from the fields above when the table is built.
    bool has_modrm = false;
    bool register_in_opcode = false; // "+r" forms: the row covers 8 opcode bytes
    ModRequirement mod = ModRequirement::Any;

    constexpr bool has(uint8_t attribute) const { return (attributes & attribute) != 0; }
};

const OpcodeRow& opcode_row(OpcodeId id);

// The rows that may apply to `opcode` in `map`, in table order.
std::span<const OpcodeId> opcode_candidates(OpcodeMap map, uint8_t opcode);

// The mnemonic of `id` for size variant 0 (16-bit), 1 (32-bit) or 2 (64-bit).
std::string_view mnemonic_variant(OpcodeId id, int variant);

} // namespace krr::cpu
