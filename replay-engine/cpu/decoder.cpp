#include "replay-engine/cpu/decoder.h"

#include "guest-model/machine_state.h"

#include <cstdio>

namespace krr::cpu {
namespace {

// Reads instruction bytes in order and remembers why it stopped.
class ByteCursor {
public:
    explicit ByteCursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

    int position() const { return position_; }
    bool available(int n) const { return position_ + n <= static_cast<int>(bytes_.size()); }
    uint8_t peek() const { return bytes_[position_]; }
    uint8_t take() { return bytes_[position_++]; }
    uint64_t take_little_endian(int n) {
        uint64_t value = 0;
        for (int i = 0; i < n; ++i) {
            value |= static_cast<uint64_t>(bytes_[position_ + i]) << (8 * i);
        }
        position_ += n;
        return value;
    }
    // Why `n` more bytes cannot be read: past 15 bytes the CPU faults
    // whatever follows; before that, the caller simply gave too few.
    DecodeStatus missing(int n) const {
        return position_ + n > kMaxInstructionLength ? DecodeStatus::TooLong
                                                     : DecodeStatus::Truncated;
    }

private:
    std::span<const uint8_t> bytes_;
    int position_ = 0;
};

uint64_t sign_extend(uint64_t value, int bytes) {
    int shift = 64 - 8 * bytes;
    return bytes >= 8 ? value
                      : static_cast<uint64_t>(static_cast<int64_t>(value << shift) >> shift);
}

uint16_t width_bytes(Width width, int operand_size) {
    switch (width) {
    case Width::None:
    case Width::Unsized:
        return 0;
    case Width::B:
    case Width::BS:
        return 1;
    case Width::W:
        return 2;
    case Width::D:
    case Width::SS:
        return 4;
    case Width::Q:
    case Width::SD:
        return 8;
    case Width::V:
    case Width::VW: // the register form; decode_operand sizes the memory form
        return static_cast<uint16_t>(operand_size / 8);
    case Width::Z:
        return operand_size == 16 ? 2 : 4;
    case Width::Y:
        return operand_size == 64 ? 8 : 4;
    case Width::X:
        return 16;
    case Width::T:
        return 10;
    case Width::P:
        return static_cast<uint16_t>(operand_size / 8 + 2);
    case Width::S:
        return 10;
    case Width::FX:
        return 512;
    }
    return 0;
}

class Decoding {
public:
    Decoding(std::span<const uint8_t> bytes, DecodeResult& result)
        : cursor_(bytes), result_(result), insn_(result.instruction),
          long_mode_(result.instruction.mode == CpuMode::Bits64) {}

    DecodeStatus run() {
        if (DecodeStatus s = read_prefixes(); s != DecodeStatus::Ok) {
            return s;
        }
        if (!cursor_.available(1)) {
            return cursor_.missing(1);
        }
        uint8_t b = take_opcode_byte();
        if (b == 0xc4 || b == 0xc5 || b == 0x62) {
            // In 64-bit mode these are always VEX/EVEX (LES, LDS and BOUND
            // do not exist there); elsewhere only when a ModRM byte in their
            // place would name a register.
            if (long_mode_) {
                return decode_vex(b);
            }
            if (!cursor_.available(1)) {
                return cursor_.missing(1);
            }
            if ((cursor_.peek() & 0xc0) == 0xc0) {
                return decode_vex(b);
            }
            return DecodeStatus::NotImplemented; // LES, LDS, BOUND
        }
        if (b == 0x0f) {
            if (!cursor_.available(1)) {
                return cursor_.missing(1);
            }
            b = take_opcode_byte();
            insn_.map = OpcodeMap::Map0F;
            if (b == 0x38 || b == 0x3a) {
                insn_.map = b == 0x38 ? OpcodeMap::Map0F38 : OpcodeMap::Map0F3A;
                if (!cursor_.available(1)) {
                    return cursor_.missing(1);
                }
                b = take_opcode_byte();
            }
        }
        insn_.opcode_byte = b;
        return decode_opcode();
    }

private:
    uint8_t take_opcode_byte() {
        uint8_t b = cursor_.take();
        if (result_.opcode_byte_count < result_.opcode_bytes.size()) {
            result_.opcode_bytes[result_.opcode_byte_count++] = b;
        }
        return b;
    }

    DecodeStatus read_prefixes() {
        LegacyPrefixes& p = insn_.prefixes;
        for (;;) {
            if (!cursor_.available(1)) {
                return cursor_.missing(1);
            }
            if (cursor_.position() >= kMaxInstructionLength) {
                return DecodeStatus::TooLong;
            }
            uint8_t b = cursor_.peek();
            switch (b) {
            case 0xf0:
                p.lock = true;
                break;
            case 0xf2:
                p.repne = true;
                p.rep = false;
                break;
            case 0xf3:
                p.rep = true;
                p.repne = false;
                break;
            case 0x26:
                p.segment = ES;
                break;
            case 0x2e:
                p.segment = CS;
                break;
            case 0x36:
                p.segment = SS;
                break;
            case 0x3e:
                p.segment = DS;
                break;
            case 0x64:
                p.segment = FS;
                break;
            case 0x65:
                p.segment = GS;
                break;
            case 0x66:
                p.operand_size = true;
                break;
            case 0x67:
                p.address_size = true;
                break;
            default:
                if (long_mode_ && (b & 0xf0) == 0x40) {
                    insn_.rex = b;
                    cursor_.take();
                    continue;
                }
                return DecodeStatus::Ok;
            }
            // REX counts only directly before the opcode.
            insn_.rex = 0;
            cursor_.take();
        }
    }

    // The row's mandatory-prefix condition, scored: the more specific a
    // matching row, the higher. -1 = does not match.
    int prefix_score(MandatoryPrefix prefix) const {
        const LegacyPrefixes& p = insn_.prefixes;
        switch (prefix) {
        case MandatoryPrefix::Any:
            return 0;
        case MandatoryPrefix::None:
            // The SDM's "NP": none of 66, F2, F3.
            return !p.operand_size && !p.rep && !p.repne ? 1 : -1;
        case MandatoryPrefix::P66:
            return p.operand_size && !p.rep && !p.repne ? 2 : -1;
        case MandatoryPrefix::F3:
            return p.rep ? 2 : -1;
        case MandatoryPrefix::F2:
            return p.repne ? 2 : -1;
        }
        return -1;
    }

    const OpcodeRow* select_row(std::span<const OpcodeId> candidates, uint8_t modrm) const {
        const int mod = modrm >> 6;
        const int reg = (modrm >> 3) & 7;
        const int rm = modrm & 7;
        const OpcodeRow* best = nullptr;
        int best_score = -1;
        for (OpcodeId id : candidates) {
            const OpcodeRow& row = opcode_row(id);
            if (!in_mode(row)) {
                continue;
            }
            int score = prefix_score(row.prefix);
            if (score < 0) {
                continue;
            }
            score *= 8;
            if (row.has(row_attribute::kNoRexB)) {
                if (insn_.rex_b()) {
                    continue;
                }
                score += 1;
            }
            if (row.has_modrm) {
                if (row.mod == ModRequirement::Memory && mod == 3) {
                    continue;
                }
                if (row.mod == ModRequirement::Register && mod != 3) {
                    continue;
                }
                if (row.modrm.reg >= 0) {
                    if (row.modrm.reg != reg) {
                        continue;
                    }
                    score += 2;
                }
                if (row.modrm.rm >= 0) {
                    if (mod != 3 || row.modrm.rm != rm) {
                        continue;
                    }
                    score += 4;
                }
            }
            if (score > best_score) {
                best = &row;
                best_score = score;
            }
        }
        return best;
    }

    DecodeStatus decode_opcode() {
        std::span<const OpcodeId> candidates = opcode_candidates(insn_.map, insn_.opcode_byte);
        if (candidates.empty()) {
            return DecodeStatus::NotImplemented;
        }
        uint8_t modrm = 0;
        const OpcodeRow* first = nullptr;
        for (OpcodeId id : candidates) {
            if (in_mode(opcode_row(id))) {
                first = &opcode_row(id);
                break;
            }
        }
        if (first == nullptr) {
            return DecodeStatus::NotImplemented;
        }
        insn_.has_modrm = first->has_modrm;
        if (insn_.has_modrm) {
            if (!cursor_.available(1)) {
                return cursor_.missing(1);
            }
            modrm = cursor_.take();
        }
        const OpcodeRow* row = select_row(candidates, modrm);
        if (row == nullptr) {
            return DecodeStatus::InvalidOpcode;
        }
        insn_.opcode = row->id;
        insn_.feature = row->feature;
        insn_.supported = masked_cpu_supports(row->feature);
        if (row->prefix != MandatoryPrefix::Any && row->prefix != MandatoryPrefix::None) {
            insn_.mandatory_prefix = row->prefix;
        }
        set_sizes(row->size_rule, row->prefix == MandatoryPrefix::P66);

        if (row->family == InstructionFamily::Invalid && row->id != OpcodeId::UD0_GvEv &&
            row->id != OpcodeId::UD1_GvEv && row->id != OpcodeId::UD2) {
            return DecodeStatus::InvalidOpcode;
        }
        if (insn_.has_modrm) {
            if (DecodeStatus s = read_modrm(modrm, insn_.rex_r(), insn_.rex_x(), insn_.rex_b(),
                                            row->has(row_attribute::kModIgnored));
                s != DecodeStatus::Ok) {
                return s;
            }
        }
        if (insn_.prefixes.lock && (!row->has(row_attribute::kLockable) || !insn_.has_memory)) {
            return DecodeStatus::InvalidOpcode;
        }
        for (const OperandSpec& spec : row->operands) {
            if (spec.addressing == Addressing::None) {
                break;
            }
            Operand op;
            if (DecodeStatus s = decode_operand(spec, op); s != DecodeStatus::Ok) {
                return s;
            }
            insn_.operands[insn_.operand_count++] = op;
        }
        return finish();
    }

    bool in_mode(const OpcodeRow& row) const {
        return !row.has(long_mode_ ? row_attribute::kLegacyOnly : row_attribute::kLongModeOnly);
    }

    void set_sizes(OperandSizeRule rule, bool operand_size_prefix_consumed) {
        const bool size_override = insn_.prefixes.operand_size && !operand_size_prefix_consumed;
        if (!long_mode_) {
            // CS.D picks 16 or 32 bits (the mode); 66 and 67 pick the other.
            // The 64-bit defaults of near branches and stack operations are
            // the mode's size here.
            const uint8_t mode_size = insn_.mode == CpuMode::Bits16 ? 16 : 32;
            const uint8_t other_size = mode_size == 16 ? 32 : 16;
            insn_.operand_size = size_override ? other_size : mode_size;
            insn_.address_size = insn_.prefixes.address_size ? other_size : mode_size;
            return;
        }
        switch (rule) {
        case OperandSizeRule::Normal:
            insn_.operand_size = insn_.rex_w() ? 64 : size_override ? 16 : 32;
            break;
        case OperandSizeRule::Default64:
            insn_.operand_size = size_override && !insn_.rex_w() ? 16 : 64;
            break;
        case OperandSizeRule::Force64:
            insn_.operand_size = 64;
            break;
        }
        insn_.address_size = insn_.prefixes.address_size ? 32 : 64;
    }

    DecodeStatus finish() {
        if (cursor_.position() > kMaxInstructionLength) {
            return DecodeStatus::TooLong;
        }
        insn_.length = static_cast<uint8_t>(cursor_.position());
        return DecodeStatus::Ok;
    }

    // ModRM, and the SIB byte and displacement of a memory operand.
    DecodeStatus read_modrm(uint8_t modrm, bool rex_r, bool rex_x, bool rex_b, bool mod_ignored) {
        ModrmFields& m = insn_.modrm;
        m.mod = modrm >> 6;
        m.reg = static_cast<uint8_t>(((modrm >> 3) & 7) | (rex_r ? 8 : 0));
        m.rm = static_cast<uint8_t>((modrm & 7) | (rex_b ? 8 : 0));
        if (m.mod == 3 || mod_ignored) {
            return DecodeStatus::Ok;
        }
        MemoryReference& mem = insn_.memory;
        insn_.has_memory = true;
        if (insn_.address_size == 16) {
            return read_modrm16(modrm);
        }
        int displacement_size = m.mod == 1 ? 1 : m.mod == 2 ? 4 : 0;
        if ((modrm & 7) == 4) {
            if (!cursor_.available(1)) {
                return cursor_.missing(1);
            }
            uint8_t sib = cursor_.take();
            insn_.has_sib = true;
            SibFields& s = insn_.sib;
            s.scale = static_cast<uint8_t>(1 << (sib >> 6));
            uint8_t index = static_cast<uint8_t>(((sib >> 3) & 7) | (rex_x ? 8 : 0));
            s.index = index == 4 ? kNoRegister : index;
            if ((sib & 7) == 5 && m.mod == 0) {
                s.base = kNoRegister;
                displacement_size = 4;
            } else {
                s.base = static_cast<uint8_t>((sib & 7) | (rex_b ? 8 : 0));
            }
            mem.base = s.base;
            mem.index = s.index;
            mem.scale = s.scale;
        } else if ((modrm & 7) == 5 && m.mod == 0) {
            // RIP-relative in 64-bit mode; an absolute disp32 elsewhere.
            mem.rip_relative = long_mode_;
            displacement_size = 4;
        } else {
            mem.base = m.rm;
        }
        if (displacement_size > 0) {
            if (!cursor_.available(displacement_size)) {
                return cursor_.missing(displacement_size);
            }
            mem.displacement_size = static_cast<uint8_t>(displacement_size);
            mem.displacement = static_cast<int64_t>(
                sign_extend(cursor_.take_little_endian(displacement_size), displacement_size));
        }
        set_memory_segment(mem.base == RSP || mem.base == RBP ? SS : DS);
        return DecodeStatus::Ok;
    }

    // The 16-bit forms: base and index from a fixed table, disp8 or disp16.
    DecodeStatus read_modrm16(uint8_t modrm) {
        static constexpr uint8_t kBase[8] = {RBX,         RBX,         RBP, RBP,
                                             kNoRegister, kNoRegister, RBP, RBX};
        static constexpr uint8_t kIndex[8] = {RSI, RDI, RSI,         RDI,
                                              RSI, RDI, kNoRegister, kNoRegister};
        MemoryReference& mem = insn_.memory;
        const int mod = modrm >> 6;
        const int rm = modrm & 7;
        int displacement_size = mod == 1 ? 1 : mod == 2 ? 2 : 0;
        if (mod == 0 && rm == 6) {
            displacement_size = 2; // [disp16]
        } else {
            mem.base = kBase[rm];
            mem.index = kIndex[rm];
        }
        if (displacement_size > 0) {
            if (!cursor_.available(displacement_size)) {
                return cursor_.missing(displacement_size);
            }
            mem.displacement_size = static_cast<uint8_t>(displacement_size);
            uint64_t raw = cursor_.take_little_endian(displacement_size);
            mem.displacement = static_cast<int64_t>(sign_extend(raw, displacement_size));
        }
        set_memory_segment(mem.base == RBP ? SS : DS);
        return DecodeStatus::Ok;
    }

    // In 64-bit mode only FS and GS overrides change the address; elsewhere
    // every override does.
    void set_memory_segment(int8_t default_segment) {
        int8_t override_segment = insn_.prefixes.segment;
        const bool honoured = override_segment != kNoSegment &&
                              (!long_mode_ || override_segment == FS || override_segment == GS);
        insn_.memory.segment = honoured ? override_segment : default_segment;
    }

    DecodeStatus read_immediate(int size, bool sign_extended, uint8_t& index) {
        if (!cursor_.available(size)) {
            return cursor_.missing(size);
        }
        if (insn_.immediate_count >= insn_.immediate.size()) {
            return DecodeStatus::NotImplemented;
        }
        index = insn_.immediate_count++;
        uint64_t value = cursor_.take_little_endian(size);
        insn_.immediate[index] = sign_extended ? sign_extend(value, size) : value;
        insn_.immediate_size[index] = static_cast<uint8_t>(size);
        return DecodeStatus::Ok;
    }

    Operand gpr(uint8_t reg, uint16_t size) const {
        // Outside 64-bit mode there are no 64-bit registers: the Rq of MOV
        // to and from control and debug registers is 32 bits wide.
        if (!long_mode_ && size == 8) {
            size = 4;
        }
        // Without REX, byte registers 4-7 are AH, CH, DH, BH.
        if (size == 1 && insn_.rex == 0 && reg >= 4 && reg < 8) {
            return {OperandKind::GprHighByte, static_cast<uint8_t>(reg - 4), 1};
        }
        return {OperandKind::Gpr, reg, size};
    }

    Operand memory(uint16_t size) const { return {OperandKind::Memory, 0, size}; }

    DecodeStatus decode_operand(const OperandSpec& spec, Operand& op) {
        const uint16_t size = width_bytes(spec.width, insn_.operand_size);
        const ModrmFields& m = insn_.modrm;
        switch (spec.addressing) {
        case Addressing::None:
            break;
        case Addressing::E:
            op = m.mod == 3 ? gpr(m.rm, size) : memory(spec.width == Width::VW ? 2 : size);
            break;
        case Addressing::G:
            op = gpr(m.reg, size);
            break;
        case Addressing::M:
            op = memory(size);
            break;
        case Addressing::R:
            op = gpr(m.rm, size);
            break;
        case Addressing::C:
            op = {OperandKind::Control, m.reg, static_cast<uint16_t>(long_mode_ ? 8 : 4)};
            break;
        case Addressing::D:
            op = {OperandKind::Debug, m.reg, static_cast<uint16_t>(long_mode_ ? 8 : 4)};
            break;
        case Addressing::S: {
            uint8_t segment = m.reg & 7;
            // 8E /1 would load CS; 6 and 7 name no segment register.
            if (segment > GS || (insn_.opcode == OpcodeId::MOV_SwEw && segment == CS)) {
                return DecodeStatus::InvalidOpcode;
            }
            op = {OperandKind::Segment, segment, 2};
            break;
        }
        case Addressing::I: {
            const bool sign_extended = spec.width == Width::BS || spec.width == Width::Z;
            op = {OperandKind::Immediate, 0, size};
            return read_immediate(size, sign_extended, op.reg);
        }
        case Addressing::J:
            op = {OperandKind::Relative, 0, size};
            return read_immediate(size, true, op.reg);
        case Addressing::O: {
            const int address_bytes = insn_.address_size / 8;
            if (!cursor_.available(address_bytes)) {
                return cursor_.missing(address_bytes);
            }
            insn_.has_memory = true;
            insn_.memory.displacement_size = static_cast<uint8_t>(address_bytes);
            insn_.memory.displacement =
                static_cast<int64_t>(cursor_.take_little_endian(address_bytes));
            set_memory_segment(DS);
            op = memory(size);
            break;
        }
        case Addressing::Z:
            op = gpr(static_cast<uint8_t>((insn_.opcode_byte & 7) | (insn_.rex_b() ? 8 : 0)), size);
            break;
        case Addressing::FixedGpr:
            op = gpr(spec.reg, size);
            break;
        case Addressing::One:
            op = {OperandKind::ConstantOne, 0, 1};
            break;
        case Addressing::X:
            op = {OperandKind::StringSource, 0, size};
            break;
        case Addressing::Y:
            op = {OperandKind::StringDestination, 0, size};
            break;
        case Addressing::St0:
            op = {OperandKind::X87, 0, 10};
            break;
        case Addressing::StI:
            op = {OperandKind::X87, static_cast<uint8_t>(m.rm & 7), 10};
            break;
        case Addressing::P:
            op = {OperandKind::Mmx, static_cast<uint8_t>(m.reg & 7), 8};
            break;
        case Addressing::Q:
            op = m.mod == 3 ? Operand{OperandKind::Mmx, static_cast<uint8_t>(m.rm & 7), 8}
                            : memory(size);
            break;
        case Addressing::N:
            op = {OperandKind::Mmx, static_cast<uint8_t>(m.rm & 7), 8};
            break;
        case Addressing::V:
            op = {OperandKind::Xmm, m.reg, size};
            break;
        case Addressing::W:
            op = m.mod == 3 ? Operand{OperandKind::Xmm, m.rm, size} : memory(size);
            break;
        case Addressing::U:
            op = {OperandKind::Xmm, m.rm, size};
            break;
        case Addressing::FixedSeg:
            op = {OperandKind::Segment, spec.reg, 2};
            break;
        case Addressing::A: {
            // ptr16:16 or ptr16:32: immediate 0 the offset, immediate 1 the selector.
            op = {OperandKind::Immediate, 0, static_cast<uint16_t>(insn_.operand_size / 8 + 2)};
            uint8_t selector = 0;
            if (DecodeStatus s = read_immediate(insn_.operand_size / 8, false, op.reg);
                s != DecodeStatus::Ok) {
                return s;
            }
            return read_immediate(2, false, selector);
        }
        }
        return DecodeStatus::Ok;
    }

    // VEX (C4, C5) and EVEX (62): the masked CPU has neither AVX nor
    // AVX-512, so these are decoded for their length and fields only.
    DecodeStatus decode_vex(uint8_t escape) {
        const LegacyPrefixes& p = insn_.prefixes;
        VexFields& v = insn_.vex;
        v.present = true;
        v.evex = escape == 0x62;
        const int payload = escape == 0xc5 ? 1 : escape == 0xc4 ? 2 : 3;
        if (!cursor_.available(payload)) {
            return cursor_.missing(payload);
        }
        bool rex_r = false, rex_x = false, rex_b = false;
        uint8_t p0 = cursor_.take();
        if (escape == 0xc5) {
            rex_r = !(p0 & 0x80);
            v.map = 1;
            v.vvvv = static_cast<uint8_t>((~p0 >> 3) & 15);
            v.length = (p0 >> 2) & 1;
            v.pp = p0 & 3;
        } else {
            uint8_t p1 = cursor_.take();
            rex_r = !(p0 & 0x80);
            rex_x = !(p0 & 0x40);
            rex_b = !(p0 & 0x20);
            v.map = static_cast<uint8_t>(escape == 0xc4 ? p0 & 0x1f : p0 & 0x07);
            v.w = (p1 & 0x80) != 0;
            v.vvvv = static_cast<uint8_t>((~p1 >> 3) & 15);
            v.pp = p1 & 3;
            if (escape == 0xc4) {
                v.length = (p1 >> 2) & 1;
            } else {
                uint8_t p2 = cursor_.take();
                v.length = (p2 >> 5) & 3;
            }
        }
        if (!cursor_.available(1)) {
            return cursor_.missing(1);
        }
        v.opcode = take_opcode_byte();
        insn_.opcode_byte = v.opcode;
        insn_.opcode = escape == 0x62   ? OpcodeId::EVEX_ENCODED
                       : escape == 0xc4 ? OpcodeId::VEX3_ENCODED
                                        : OpcodeId::VEX2_ENCODED;
        insn_.feature = opcode_row(insn_.opcode).feature;
        insn_.supported = false;
        insn_.operand_size = v.w && long_mode_ ? 64 : 32;
        insn_.address_size = long_mode_                      ? (p.address_size ? 32 : 64)
                             : insn_.mode == CpuMode::Bits16 ? (p.address_size ? 32 : 16)
                                                             : (p.address_size ? 16 : 32);
        const bool known_map = v.map >= 1 && v.map <= 3;
        insn_.map = v.map == 2   ? OpcodeMap::Map0F38
                    : v.map == 3 ? OpcodeMap::Map0F3A
                                 : OpcodeMap::Map0F;
        // vzeroupper/vzeroall (VEX 0F 77) are the only VEX forms without ModRM.
        insn_.has_modrm = !(v.map == 1 && v.opcode == 0x77 && !v.evex);
        if (insn_.has_modrm) {
            if (!cursor_.available(1)) {
                return cursor_.missing(1);
            }
            if (DecodeStatus s = read_modrm(cursor_.take(), rex_r, rex_x, rex_b, false);
                s != DecodeStatus::Ok) {
                return s;
            }
        }
        if (vex_has_immediate(v.map, v.opcode)) {
            uint8_t index = 0;
            if (DecodeStatus s = read_immediate(1, false, index); s != DecodeStatus::Ok) {
                return s;
            }
        }
        // A VEX prefix after 66, F2, F3, LOCK or REX raises #UD.
        if (p.operand_size || p.rep || p.repne || p.lock || insn_.rex != 0 || !known_map) {
            return DecodeStatus::InvalidOpcode;
        }
        return finish();
    }

    static bool vex_has_immediate(uint8_t map, uint8_t opcode) {
        if (map == 3) {
            return true;
        }
        if (map != 1) {
            return false;
        }
        switch (opcode) {
        case 0x70: // pshufd/pshufhw/pshuflw
        case 0x71: // shift groups 12-14 by immediate
        case 0x72:
        case 0x73:
        case 0xc2: // cmpps/pd/ss/sd
        case 0xc4: // pinsrw
        case 0xc5: // pextrw
        case 0xc6: // shufps/pd
            return true;
        default:
            return false;
        }
    }

    ByteCursor cursor_;
    DecodeResult& result_;
    DecodedInstruction& insn_;
    const bool long_mode_;
};

} // namespace

DecodeResult decode(std::span<const uint8_t> bytes, CpuMode mode) {
    DecodeResult result;
    result.instruction.mode = mode;
    Decoding decoding(bytes, result);
    result.status = decoding.run();
    return result;
}

std::string_view mnemonic(const DecodedInstruction& instruction) {
    const OpcodeRow& row = opcode_row(instruction.opcode);
    const int bits = row.has(row_attribute::kAddressVariant) ? instruction.address_size
                                                             : instruction.operand_size;
    return mnemonic_variant(instruction.opcode, bits == 16 ? 0 : bits == 32 ? 1 : 2);
}

const char* decode_status_name(DecodeStatus status) {
    switch (status) {
    case DecodeStatus::Ok:
        return "ok";
    case DecodeStatus::Truncated:
        return "truncated";
    case DecodeStatus::InvalidOpcode:
        return "invalid opcode";
    case DecodeStatus::TooLong:
        return "too long";
    case DecodeStatus::NotImplemented:
        return "not implemented";
    }
    return "unknown";
}

std::string DecodeResult::error_text() const {
    std::string opcode;
    for (int i = 0; i < opcode_byte_count; ++i) {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%s%02x", i == 0 ? "" : " ", opcode_bytes[i]);
        opcode += hex;
    }
    switch (status) {
    case DecodeStatus::Ok:
        return "no error";
    case DecodeStatus::Truncated:
        return "truncated: the instruction continues past the bytes given";
    case DecodeStatus::InvalidOpcode:
        return "invalid opcode (#UD): " + opcode;
    case DecodeStatus::TooLong:
        return "instruction longer than 15 bytes (#GP)";
    case DecodeStatus::NotImplemented:
        return std::string("not implemented: opcode ") + opcode +
               (instruction.mode == CpuMode::Bits64   ? ""
                : instruction.mode == CpuMode::Bits32 ? " in 32-bit mode"
                                                      : " in 16-bit mode");
    }
    return "unknown decode status";
}

} // namespace krr::cpu
