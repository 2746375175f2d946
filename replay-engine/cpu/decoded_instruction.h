// One x86 instruction as the decoder hands it to execution: every field a
// handler needs, already extracted, so executing never looks at the bytes
// again. Plain data, fixed size, no allocation: decoded instructions are
// meant to be cached per physical page and run many times.
#pragma once

#include "replay-engine/cpu/cpu_feature.h"
#include "replay-engine/cpu/opcode.h"
#include "replay-engine/cpu/opcode_table.h"

#include <array>
#include <cstdint>

namespace krr::cpu {

// The default operand and address size of the code segment being decoded:
// real mode and 16-bit protected mode are Bits16; 32-bit protected and
// compatibility mode are Bits32; 64-bit long mode is Bits64.
enum class CpuMode : uint8_t { Bits16, Bits32, Bits64 };

inline constexpr uint8_t kNoRegister = 0xff;
inline constexpr int8_t kNoSegment = -1;
inline constexpr int kMaxInstructionLength = 15;

// Legacy prefixes as they appeared (the last one of a group wins).
struct LegacyPrefixes {
    bool lock = false;
    bool rep = false;            // F3 (REP/REPE), last of F2/F3
    bool repne = false;          // F2 (REPNE), last of F2/F3
    bool operand_size = false;   // 66
    bool address_size = false;   // 67
    int8_t segment = kNoSegment; // a krr::SegmentIndex, or kNoSegment
};

struct ModrmFields {
    uint8_t mod = 0;
    uint8_t reg = 0; // with REX.R: 0-15
    uint8_t rm = 0;  // with REX.B: 0-15 (4 or 12 with mod != 3 means a SIB follows)
};

struct SibFields {
    uint8_t scale = 1;           // 1, 2, 4 or 8
    uint8_t index = kNoRegister; // with REX.X; kNoRegister for 100b without REX.X
    uint8_t base = kNoRegister;  // with REX.B; kNoRegister for 101b with mod=00
};

// The instruction's memory operand (there is at most one, besides the
// implicit string operands). Effective address =
// base + index * scale + displacement (+ next RIP when rip_relative).
struct MemoryReference {
    uint8_t base = kNoRegister;
    uint8_t index = kNoRegister;
    uint8_t scale = 1;
    bool rip_relative = false;
    int8_t segment = kNoSegment;   // the override, else DS, or SS for rSP/rBP bases
    uint8_t displacement_size = 0; // bytes in the encoding: 0, 1, 2 (16-bit), 4 or 8 (moffs)
    int64_t displacement = 0;      // sign-extended (moffs: the 64-bit address)
};

enum class OperandKind : uint8_t {
    None,
    Gpr,               // reg: 0-15 (AL..R15B for 1-byte operands with REX)
    GprHighByte,       // reg: 0-3 for AH, CH, DH, BH
    Segment,           // reg: a krr::SegmentIndex
    Control,           // reg: CRn
    Debug,             // reg: DRn
    X87,               // reg: i of ST(i)
    Mmx,               // reg: MMn
    Xmm,               // reg: XMMn
    Memory,            // the instruction's MemoryReference
    StringSource,      // DS:rSI (segment overridable)
    StringDestination, // ES:rDI
    Immediate,         // reg: which of the instruction's immediates
    Relative,          // reg: which immediate holds the offset from the next instruction
    ConstantOne,       // the 1 of shift-by-one
};

struct Operand {
    OperandKind kind = OperandKind::None;
    uint8_t reg = 0;
    uint16_t size = 0; // bytes; 0 when the instruction itself defines it (lea, xsave)
};

struct VexFields {
    bool present = false;
    bool evex = false;
    uint8_t map = 0; // 1 = 0F, 2 = 0F 38, 3 = 0F 3A
    uint8_t pp = 0;  // implied prefix: 0 none, 1 = 66, 2 = F3, 3 = F2
    uint8_t opcode = 0;
    bool w = false;
    uint8_t vvvv = 0;
    uint8_t length = 0; // L (VEX) or L'L (EVEX)
};

struct DecodedInstruction {
    OpcodeId opcode{};
    uint8_t length = 0;
    CpuMode mode = CpuMode::Bits64;
    OpcodeMap map = OpcodeMap::OneByte;
    uint8_t opcode_byte = 0;

    LegacyPrefixes prefixes;
    // The 66/F2/F3 that the opcode consumed as part of itself (SSE forms,
    // popcnt, pause): it is then neither a size override nor a repeat.
    MandatoryPrefix mandatory_prefix = MandatoryPrefix::Any;
    uint8_t rex = 0; // the REX byte (0x40-0x4f) or 0 when there is none

    bool has_modrm = false;
    ModrmFields modrm;
    bool has_sib = false;
    SibFields sib;
    MemoryReference memory;
    bool has_memory = false;

    uint8_t immediate_count = 0;
    std::array<uint8_t, 2> immediate_size{}; // bytes in the encoding
    // Sign-extended to 64 bits where the instruction sign-extends (Ibs, Iz,
    // relative offsets); zero-extended otherwise.
    std::array<uint64_t, 2> immediate{};

    uint8_t operand_size = 32; // bits: 16, 32 or 64
    uint8_t address_size = 64; // bits: 16, 32 or 64
    uint8_t operand_count = 0;
    std::array<Operand, 3> operands{};

    VexFields vex;

    CpuFeature feature = CpuFeature::Base;
    // False when the masked CPU lacks `feature`: executing it raises #UD.
    bool supported = true;

    bool rex_w() const { return (rex & 8) != 0; }
    bool rex_r() const { return (rex & 4) != 0; }
    bool rex_x() const { return (rex & 2) != 0; }
    bool rex_b() const { return (rex & 1) != 0; }
    // REP/REPNE as repeat prefixes, not consumed as mandatory prefixes.
    bool repeats() const { return prefixes.rep && mandatory_prefix != MandatoryPrefix::F3; }
    bool repeats_while_not_equal() const {
        return prefixes.repne && mandatory_prefix != MandatoryPrefix::F2;
    }
};

} // namespace krr::cpu
