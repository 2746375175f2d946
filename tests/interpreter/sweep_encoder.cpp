#include "tests/interpreter/sweep_encoder.h"

#include "guest-model/machine_state.h"
#include "tests/support/native_oracle.h"

#include <cstring>
#include <iomanip>
#include <sstream>

namespace krr::testing {

namespace {

using cpu::Addressing;
using cpu::MandatoryPrefix;
using cpu::ModRequirement;
using cpu::OpcodeId;
using cpu::OpcodeMap;
using cpu::OpcodeRow;
using cpu::OperandSizeRule;
using cpu::Width;

constexpr uint64_t kWindow = NativeOracle::kWindowAddress;
// lea r14, [r14+1]: a flag-neutral marker placed after every control
// transfer, so the registers show whether the branch skipped it.
constexpr uint8_t kSkipMarker[] = {0x4d, 0x8d, 0x76, 0x01};
constexpr uint8_t kSkipDistance = sizeof(kSkipMarker);

// Selectors whose descriptors are the same in Linux's GDT and in the
// snippet machine's: null, kernel code and data, user data and code, and
// a null LDT selector. Other GDT slots differ between the two.
// (Never RPL 0 for the user segments: a data segment register loaded with
// 0x28 would make the oracle's PTRACE_SETREGS fail from then on.)
constexpr uint16_t kComparableSelectors[] = {0x00, 0x10, 0x18, 0x2b, 0x33, 0x13, 0x1b, 0x2f};
// Far transfers may also name the user code segment with RPL 0.
constexpr uint16_t kFarTargetSelectors[] = {0x00, 0x10, 0x2b, 0x30, 0x13, 0x2f};

void put_le(std::vector<uint8_t>& out, uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) {
        out.push_back(static_cast<uint8_t>(value >> (8 * i)));
    }
}

std::vector<uint8_t> le_bytes(uint64_t value, int bytes) {
    std::vector<uint8_t> out;
    put_le(out, value, bytes);
    return out;
}

bool is_transfer(const OpcodeRow& row) {
    return row.family == cpu::InstructionFamily::Branch || row.id == OpcodeId::IRET;
}

bool uses_segment_register_operand(const OpcodeRow& row) {
    for (const auto& op : row.operands) {
        if (op.addressing == Addressing::S) {
            return true;
        }
    }
    return false;
}

int immediate_bytes(const cpu::OperandSpec& op, const OpcodeRow& row, int operand_size,
                    int address_size) {
    switch (op.addressing) {
    case Addressing::I:
        switch (op.width) {
        case Width::B:
        case Width::BS:
            return 1;
        case Width::W:
            return 2;
        case Width::Z:
            return operand_size == 16 ? 2 : 4;
        case Width::V:
            return operand_size / 8;
        default:
            return 0;
        }
    case Addressing::J:
        if (op.width == Width::B) {
            return 1;
        }
        return row.size_rule == OperandSizeRule::Force64 || operand_size != 16 ? 4 : 2;
    case Addressing::O:
        return address_size / 8;
    default:
        return 0;
    }
}

struct ParsedPrefixes {
    bool p66 = false, f2 = false, f3 = false;
    uint8_t rex = 0;
    size_t opcode_at = 0;
};

bool row_matches(const OpcodeRow& row, const ParsedPrefixes& p, uint8_t opcode, bool has_modrm,
                 uint8_t modrm) {
    if (row.register_in_opcode ? (opcode & 0xf8) != row.opcode : opcode != row.opcode) {
        return false;
    }
    switch (row.prefix) {
    case MandatoryPrefix::Any:
        break;
    case MandatoryPrefix::None:
        if (p.p66 || p.f2 || p.f3) {
            return false;
        }
        break;
    case MandatoryPrefix::P66:
        if (!p.p66 || p.f2 || p.f3) {
            return false;
        }
        break;
    case MandatoryPrefix::F3:
        if (!p.f3) {
            return false;
        }
        break;
    case MandatoryPrefix::F2:
        if (!p.f2) {
            return false;
        }
        break;
    }
    if (row.has(cpu::row_attribute::kNoRexB) && (p.rex & 1)) {
        return false;
    }
    if (!row.has_modrm) {
        return true;
    }
    if (!has_modrm) {
        return false;
    }
    int mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
    if (row.modrm.reg >= 0 && reg != row.modrm.reg) {
        return false;
    }
    if (row.has(cpu::row_attribute::kModIgnored)) {
        return true;
    }
    if (row.modrm.rm >= 0 && (mod != 3 || rm != row.modrm.rm)) {
        return false;
    }
    if (row.mod == ModRequirement::Memory && mod == 3) {
        return false;
    }
    if (row.mod == ModRequirement::Register && mod != 3) {
        return false;
    }
    return true;
}

int specificity(const OpcodeRow& row) {
    return (row.prefix != MandatoryPrefix::Any ? 4 : 0) + (row.modrm.rm >= 0 ? 2 : 0) +
           (row.modrm.reg >= 0 ? 1 : 0);
}

} // namespace

std::string hex_bytes(const std::vector<uint8_t>& bytes, size_t count) {
    std::ostringstream o;
    for (size_t i = 0; i < count && i < bytes.size(); ++i) {
        o << (i ? " " : "") << std::hex << std::setw(2) << std::setfill('0') << int(bytes[i]);
    }
    return o.str();
}

std::optional<OpcodeId> expected_row(const std::vector<uint8_t>& bytes) {
    ParsedPrefixes p;
    size_t i = 0;
    for (; i < bytes.size(); ++i) {
        uint8_t b = bytes[i];
        if (b == 0x66) {
            p.p66 = true;
        } else if (b == 0xf2) {
            p.f2 = true, p.f3 = false;
        } else if (b == 0xf3) {
            p.f3 = true, p.f2 = false;
        } else if (b != 0xf0 && b != 0x67 && b != 0x26 && b != 0x2e && b != 0x36 && b != 0x3e) {
            break;
        }
    }
    if (i < bytes.size() && (bytes[i] & 0xf0) == 0x40) {
        p.rex = bytes[i++];
    }
    if (i >= bytes.size()) {
        return std::nullopt;
    }
    switch (bytes[i]) {
    case 0xc4:
        return OpcodeId::VEX3_ENCODED;
    case 0xc5:
        return OpcodeId::VEX2_ENCODED;
    case 0x62:
        return OpcodeId::EVEX_ENCODED;
    default:
        break;
    }
    OpcodeMap map = OpcodeMap::OneByte;
    if (bytes[i] == 0x0f && i + 1 < bytes.size()) {
        ++i;
        map = OpcodeMap::Map0F;
        if (bytes[i] == 0x38 || bytes[i] == 0x3a) {
            map = bytes[i] == 0x38 ? OpcodeMap::Map0F38 : OpcodeMap::Map0F3A;
            ++i;
        }
    }
    if (i >= bytes.size()) {
        return std::nullopt;
    }
    uint8_t opcode = bytes[i++];
    bool has_modrm = i < bytes.size();
    uint8_t modrm = has_modrm ? bytes[i] : 0;
    std::optional<OpcodeId> best;
    int best_score = -1;
    for (OpcodeId id : cpu::opcode_candidates(map, opcode)) {
        const OpcodeRow& row = cpu::opcode_row(id);
        if (row.has(cpu::row_attribute::kLegacyOnly)) {
            continue; // snippets are 64-bit code
        }
        if (row_matches(row, p, opcode, has_modrm, modrm) && specificity(row) > best_score) {
            best = id;
            best_score = specificity(row);
        }
    }
    return best;
}

std::optional<SweepEncoding> synthesize(const OpcodeRow& row, std::mt19937_64& rng) {
    auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
    SweepEncoding enc;

    // VEX and EVEX are decoded for their length only: one fixed encoding each.
    if (row.id == OpcodeId::VEX2_ENCODED || row.id == OpcodeId::VEX3_ENCODED ||
        row.id == OpcodeId::EVEX_ENCODED) {
        if (row.id == OpcodeId::VEX2_ENCODED) {
            enc.code = {0xc5, 0xf8, 0x77}; // vzeroupper
        } else if (row.id == OpcodeId::VEX3_ENCODED) {
            enc.code = {0xc4, 0xe1, 0x79, 0x6e, 0xc0}; // vmovd xmm0, eax
        } else {
            enc.code = {0x62, 0xf1, 0x7c, 0x48, 0x10, 0xc1}; // vmovups zmm0, zmm1
        }
        enc.instruction_length = enc.code.size();
        return enc;
    }

    const bool any_prefix = row.prefix == MandatoryPrefix::Any;
    const bool is_string = row.family == cpu::InstructionFamily::String;

    bool memory = false;
    if (row.has_modrm && !row.has(cpu::row_attribute::kModIgnored)) {
        if (row.mod == ModRequirement::Memory) {
            memory = true;
        } else if (row.mod == ModRequirement::Any && row.modrm.rm < 0) {
            memory = chance(50);
        }
    }

    const bool lockable = row.has(cpu::row_attribute::kLockable) && memory;
    const bool lock = lockable ? chance(30) : chance(3);
    enc.misplaced_lock = lock && !lockable;
    // ES, CS, SS and DS overrides (and the branch hints 2E/3E) are ignored
    // in 64-bit mode; the decoder must step over them.
    constexpr uint8_t kIgnoredSegments[] = {0x26, 0x2e, 0x36, 0x3e};
    const int ignored_segment = chance(5) ? kIgnoredSegments[rng() % 4] : -1;
    const bool size_override =
        any_prefix && row.size_rule != OperandSizeRule::Force64 && chance(30);
    bool rep = false, repne = false;
    if (any_prefix && is_string && chance(70)) {
        (chance(50) ? rep : repne) = true;
    }
    const bool address_override = chance(12);

    bool rex_w = false, rex_r = false, rex_x = false, rex_b = false;
    if (memory || chance(50)) {
        rex_w = chance(40), rex_r = chance(50), rex_x = chance(50), rex_b = chance(50);
    }
    if (uses_segment_register_operand(row)) {
        rex_r = false;
    }
    const bool has_rex = memory || rex_w || rex_r || rex_x || rex_b || chance(30);

    int operand_size = 32;
    switch (row.size_rule) {
    case OperandSizeRule::Normal:
        operand_size = rex_w ? 64 : size_override ? 16 : 32;
        break;
    case OperandSizeRule::Default64:
        operand_size = !rex_w && size_override ? 16 : 64;
        break;
    case OperandSizeRule::Force64:
        operand_size = 64;
        break;
    }
    const int address_size = address_override ? 32 : 64;

    // ModRM and SIB.
    uint8_t modrm = 0;
    std::vector<uint8_t> sib_and_displacement;
    int rm_register = -1;
    uint64_t memory_offset = 0;
    if (row.has_modrm) {
        int reg3 = row.modrm.reg >= 0 ? row.modrm.reg : static_cast<int>(rng() % 8);
        if (row.id == OpcodeId::MOV_EvSw) {
            reg3 = chance(50) ? CS : SS; // the other selectors differ from Linux's
        }
        if (memory) {
            rex_b = true;
            int mod = static_cast<int>(rng() % 3);
            bool sib = chance(50);
            uint64_t scaled_index = 0;
            if (sib) {
                int scale_log = static_cast<int>(rng() % 4);
                int index3 = static_cast<int>(rng() % 8);
                int index = index3 + (rex_x ? 8 : 0);
                if (index == R15) {
                    index3 = 6, index = R14;
                }
                if (index != RSP) {
                    uint64_t value = rng() % 17;
                    enc.registers.push_back({index, value});
                    scaled_index = value << scale_log;
                }
                sib_and_displacement.push_back(
                    static_cast<uint8_t>((scale_log << 6) | (index3 << 3) | 7));
            }
            int64_t displacement = 0;
            if (mod == 1) {
                displacement = static_cast<int8_t>(rng());
            } else if (mod == 2) {
                int64_t target = chance(12) ? 0x10000 - static_cast<int64_t>(rng() % 24)
                                            : static_cast<int64_t>(rng() % 0x7000);
                displacement = target - static_cast<int64_t>(kSweepBaseOffset + scaled_index);
            }
            if (mod != 0 && chance(50)) {
                // Aligned operands, so the alignment-checking SSE forms also run.
                int64_t misalign =
                    static_cast<int64_t>((kSweepBaseOffset + scaled_index) + displacement) & 15;
                displacement -= misalign;
                if (mod == 1 && displacement < -128) {
                    displacement += 16;
                }
            }
            if (mod == 1) {
                sib_and_displacement.push_back(static_cast<uint8_t>(displacement));
            } else if (mod == 2) {
                put_le(sib_and_displacement, static_cast<uint64_t>(displacement), 4);
            }
            memory_offset = kSweepBaseOffset + scaled_index + static_cast<uint64_t>(displacement);
            modrm = static_cast<uint8_t>((mod << 6) | (reg3 << 3) | (sib ? 4 : 7));
        } else {
            int mod = row.has(cpu::row_attribute::kModIgnored) ? static_cast<int>(rng() % 4) : 3;
            int rm3 = row.modrm.rm >= 0 ? row.modrm.rm : static_cast<int>(rng() % 8);
            rm_register = rm3 + (rex_b ? 8 : 0);
            if ((row.id == OpcodeId::CALL_Ev || row.id == OpcodeId::JMP_Ev) && rm_register == RSP) {
                // call rsp would push its return address over the snippet itself.
                rm3 = 0, rm_register = rex_b ? R8 : RAX;
            }
            modrm = static_cast<uint8_t>((mod << 6) | (reg3 << 3) | rm3);
        }
    }

    // Prefixes, REX, escape and opcode bytes.
    std::vector<uint8_t>& code = enc.code;
    if (lock) {
        code.push_back(0xf0);
    }
    if (ignored_segment >= 0) {
        code.push_back(static_cast<uint8_t>(ignored_segment));
    }
    if (address_override) {
        code.push_back(0x67);
    }
    if (size_override) {
        code.push_back(0x66);
    }
    if (rep || repne) {
        code.push_back(rep ? 0xf3 : 0xf2);
    }
    switch (row.prefix) {
    case MandatoryPrefix::P66:
        code.push_back(0x66);
        break;
    case MandatoryPrefix::F3:
        code.push_back(0xf3);
        break;
    case MandatoryPrefix::F2:
        code.push_back(0xf2);
        break;
    default:
        break;
    }
    int opcode_register = static_cast<int>(rng() % 8);
    if (has_rex) {
        code.push_back(static_cast<uint8_t>(0x40 | (rex_w << 3) | (rex_r << 2) | (rex_x << 1) |
                                            static_cast<int>(rex_b)));
    }
    if (row.map != OpcodeMap::OneByte) {
        code.push_back(0x0f);
        if (row.map == OpcodeMap::Map0F38) {
            code.push_back(0x38);
        } else if (row.map == OpcodeMap::Map0F3A) {
            code.push_back(0x3a);
        }
    }
    code.push_back(
        static_cast<uint8_t>(row.opcode + (row.register_in_opcode ? opcode_register : 0)));
    if (row.has_modrm) {
        code.push_back(modrm);
        code.insert(code.end(), sib_and_displacement.begin(), sib_and_displacement.end());
    }

    // Immediates. Branch offsets skip the marker or land on it.
    for (const auto& op : row.operands) {
        int bytes = immediate_bytes(op, row, operand_size, address_size);
        if (bytes == 0) {
            continue;
        }
        uint64_t value = rng();
        if (op.addressing == Addressing::J) {
            value = chance(80) ? kSkipDistance : 0;
        } else if (op.addressing == Addressing::O) {
            value = kWindow + (chance(10) ? 0x10000 - rng() % 12 : rng() % 0xfff8);
        }
        put_le(code, value, bytes);
    }
    enc.instruction_length = code.size();
    if (is_transfer(row)) {
        code.insert(code.end(), std::begin(kSkipMarker), std::end(kSkipMarker));
    }

    // What the instruction needs to find in registers and memory.
    const uint64_t end = NativeOracle::kCodeAddress + code.size();
    const int slot = operand_size / 8;
    auto selector = [&]() { return kComparableSelectors[rng() % std::size(kComparableSelectors)]; };
    auto far_selector = [&]() {
        return kFarTargetSelectors[rng() % std::size(kFarTargetSelectors)];
    };
    auto set_memory = [&](uint64_t offset, std::vector<uint8_t> bytes) {
        enc.window.push_back({offset, std::move(bytes)});
    };
    auto set_source_selector = [&](uint16_t value) {
        if (memory) {
            set_memory(memory_offset, le_bytes(value, 2));
        } else if (rm_register >= 0) {
            enc.registers.push_back({rm_register, (rng() << 16) | value});
        }
    };
    switch (row.id) {
    case OpcodeId::JMP_Ev:
    case OpcodeId::CALL_Ev:
        if (memory) {
            set_memory(memory_offset, le_bytes(end, 8));
        } else {
            enc.registers.push_back({rm_register, end});
        }
        break;
    case OpcodeId::RET:
    case OpcodeId::RET_Iw:
        set_memory(kSweepStackOffset, le_bytes(end, 8));
        break;
    case OpcodeId::RETF:
    case OpcodeId::RETF_Iw: {
        auto frame = le_bytes(end, slot);
        put_le(frame, chance(85) ? 0x33 : far_selector(), slot);
        set_memory(kSweepStackOffset, frame);
        break;
    }
    case OpcodeId::IRET: {
        std::vector<uint8_t> frame;
        put_le(frame, end, slot);
        put_le(frame, 0x33, slot);
        put_le(frame, (rng() & 0xcd5) | 0x202, slot);
        put_le(frame, kWindow + 0x6000 + (rng() % 256) * 8, slot);
        put_le(frame, 0x2b, slot);
        set_memory(kSweepStackOffset, frame);
        break;
    }
    case OpcodeId::CALLF_Mp:
    case OpcodeId::JMPF_Mp: {
        auto pointer = le_bytes(end, slot);
        put_le(pointer, chance(85) ? 0x33 : far_selector(), 2);
        set_memory(memory_offset, pointer);
        break;
    }
    case OpcodeId::LSS_GvMp:
    case OpcodeId::LFS_GvMp:
    case OpcodeId::LGS_GvMp:
        set_memory(memory_offset + static_cast<uint64_t>(slot),
                   le_bytes(chance(60) ? 0x2b : selector(), 2));
        break;
    case OpcodeId::MOV_SwEw:
    case OpcodeId::LAR_GvEw:
    case OpcodeId::LSL_GvEw:
    case OpcodeId::VERR_Ew:
    case OpcodeId::VERW_Ew:
    case OpcodeId::LLDT_Ew:
    case OpcodeId::LTR_Ew:
        set_source_selector(selector());
        break;
    case OpcodeId::LDMXCSR_M:
    case OpcodeId::FXRSTOR_M:
        // A valid MXCSR (reserved bits clear) most of the time, so the load
        // itself runs rather than always raising #GP.
        if (chance(80)) {
            const uint64_t mxcsr = rng() & 0xffff;
            set_memory(memory_offset + (row.id == OpcodeId::FXRSTOR_M ? 24 : 0),
                       le_bytes(mxcsr, 4));
        }
        break;
    case OpcodeId::POP_FS:
    case OpcodeId::POP_GS:
        set_memory(kSweepStackOffset, le_bytes(chance(50) ? 0 : 0x2b, 8));
        break;
    case OpcodeId::POPF:
        // TF would single-step into the oracle's end marker.
        set_memory(kSweepStackOffset, le_bytes(rng() & ~0x100ULL, 8));
        break;
    case OpcodeId::XLAT:
        enc.registers.push_back(
            {RBX, kWindow + rng() % 0x8000 + (address_override && chance(50) ? rng() << 32 : 0)});
        break;
    case OpcodeId::LOOP_Jb:
    case OpcodeId::LOOPE_Jb:
    case OpcodeId::LOOPNE_Jb:
    case OpcodeId::JRCXZ_Jb:
        if (chance(40)) {
            enc.registers.push_back({RCX, (rng() & 0xffffffff00000000ULL) | (rng() % 2)});
        }
        break;
    case OpcodeId::CMPXCHG_EbGb:
    case OpcodeId::CMPXCHG_EvGv:
        if (chance(50)) {
            uint64_t value = rng();
            enc.registers.push_back({RAX, value});
            if (memory) {
                set_memory(memory_offset, le_bytes(value, 8));
            } else {
                enc.registers.push_back({rm_register, value});
            }
        }
        break;
    case OpcodeId::CMPXCHG8B_Mq:
        if (chance(50)) {
            uint64_t low = rng(), high = rng();
            enc.registers.push_back({RAX, low});
            enc.registers.push_back({RDX, high});
            auto bytes = rex_w ? le_bytes(low, 8) : le_bytes((low & 0xffffffff) | (high << 32), 8);
            if (rex_w) {
                put_le(bytes, high, 8);
            }
            set_memory(memory_offset, bytes);
        }
        break;
    case OpcodeId::DIV_Eb:
    case OpcodeId::DIV_Ev:
    case OpcodeId::IDIV_Eb:
    case OpcodeId::IDIV_Ev:
        if (chance(60)) {
            // A quotient that fits, so the division completes.
            enc.registers.push_back({RAX, rng() & 0x7f});
            enc.registers.push_back({RDX, 0});
        }
        break;
    default:
        break;
    }
    if (row.id == OpcodeId::MASKMOVQ_PqNq || row.id == OpcodeId::MASKMOVDQU_VxUx) {
        // The implicit destination DS:rDI, inside the window.
        enc.registers.push_back({RDI, kWindow + 0x3000 + rng() % 0x1000});
    }
    if (is_string) {
        auto garbage = [&]() { return address_override && chance(50) ? rng() << 32 : 0; };
        enc.registers.push_back({RSI, kWindow + 0x2000 + rng() % 0x1000 + garbage()});
        enc.registers.push_back({RDI, kWindow + 0x4000 + rng() % 0x1000 + garbage()});
        if (rep || repne) {
            enc.registers.push_back({RCX, rng() % 65 + garbage()});
        }
    }
    enc.set_direction_flag = true;
    enc.direction_flag = chance(is_string ? 50 : 10);

    if (expected_row(code) != row.id) {
        return std::nullopt; // a more specific row owns this encoding
    }
    return enc;
}

} // namespace krr::testing
