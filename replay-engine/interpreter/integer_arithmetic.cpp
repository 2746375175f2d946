// The integer ALU instructions: ADD/OR/ADC/SBB/AND/SUB/XOR/CMP/TEST, INC, DEC,
// NEG, NOT, MUL/IMUL/DIV/IDIV, the shifts and rotates, SHLD/SHRD. The
// arithmetic and its flags (the undefined ones as Intel produces them) come
// from replay-engine/alu; this file only moves operands.
#include "replay-engine/alu/alu.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/interpreter/operand_width.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

template <alu::Operand T>
void commit(Interpreter& in, const DecodedInstruction& insn, const alu::AluResult<T>& r,
            bool writes_destination) {
    if (writes_destination && r.destination_written) {
        in.write_operand(insn, 0, r.value);
    }
    in.cpu().rflags = r.merged_into(in.cpu().rflags);
}

enum class BinaryOp { Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test };

template <BinaryOp kOp>
void binary(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t a = in.read_operand(insn, 0);
    uint64_t b = in.read_operand(insn, 1);
    uint64_t flags = in.cpu().rflags;
    with_operand_width(insn.operands[0].size, [&]<typename T>(T) {
        T x = static_cast<T>(a), y = static_cast<T>(b);
        alu::AluResult<T> r;
        switch (kOp) {
        case BinaryOp::Add:
            r = alu::add(x, y);
            break;
        case BinaryOp::Or:
            r = alu::or_(x, y);
            break;
        case BinaryOp::Adc:
            r = alu::adc(x, y, flags);
            break;
        case BinaryOp::Sbb:
            r = alu::sbb(x, y, flags);
            break;
        case BinaryOp::And:
            r = alu::and_(x, y);
            break;
        case BinaryOp::Sub:
            r = alu::sub(x, y);
            break;
        case BinaryOp::Xor:
            r = alu::xor_(x, y);
            break;
        case BinaryOp::Cmp:
            r = alu::cmp(x, y);
            break;
        case BinaryOp::Test:
            r = alu::test(x, y);
            break;
        }
        commit(in, insn, r, kOp != BinaryOp::Cmp && kOp != BinaryOp::Test);
    });
}

enum class UnaryOp { Inc, Dec, Neg, Not };

template <UnaryOp kOp>
void unary(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t a = in.read_operand(insn, 0);
    with_operand_width(insn.operands[0].size, [&]<typename T>(T) {
        T x = static_cast<T>(a);
        alu::AluResult<T> r;
        switch (kOp) {
        case UnaryOp::Inc:
            r = alu::inc(x);
            break;
        case UnaryOp::Dec:
            r = alu::dec(x);
            break;
        case UnaryOp::Neg:
            r = alu::neg(x);
            break;
        case UnaryOp::Not:
            r = alu::not_(x);
            break;
        }
        commit(in, insn, r, true);
    });
}

enum class ShiftOp { Rol, Ror, Rcl, Rcr, Shl, Shr, Sal, Sar };

template <ShiftOp kOp>
void shift(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t a = in.read_operand(insn, 0);
    uint8_t count = static_cast<uint8_t>(in.read_operand(insn, 1));
    uint64_t flags = in.cpu().rflags;
    with_operand_width(insn.operands[0].size, [&]<typename T>(T) {
        T x = static_cast<T>(a);
        alu::AluResult<T> r;
        switch (kOp) {
        case ShiftOp::Rol:
            r = alu::rol(x, count);
            break;
        case ShiftOp::Ror:
            r = alu::ror(x, count);
            break;
        case ShiftOp::Rcl:
            r = alu::rcl(x, count, flags);
            break;
        case ShiftOp::Rcr:
            r = alu::rcr(x, count, flags);
            break;
        case ShiftOp::Shl:
            r = alu::shl(x, count);
            break;
        case ShiftOp::Shr:
            r = alu::shr(x, count);
            break;
        case ShiftOp::Sal:
            r = alu::sal(x, count);
            break;
        case ShiftOp::Sar:
            r = alu::sar(x, count);
            break;
        }
        commit(in, insn, r, true);
        // Measured on Intel: ROL/ROR of a register by an immediate count
        // other than one leave OF as it was; the CL forms and the memory
        // forms write it as alu/rotate.h describes.
        constexpr uint64_t kOverflow = 1ULL << 11;
        const unsigned masked = count & (sizeof(T) == 8 ? 0x3f : 0x1f);
        if ((kOp == ShiftOp::Rol || kOp == ShiftOp::Ror) && masked > 1 &&
            insn.operands[1].kind == cpu::OperandKind::Immediate &&
            insn.operands[0].kind != cpu::OperandKind::Memory &&
            !(in.kernel_rotates_write_overflow && in.cpl() == 0)) {
            in.cpu().rflags = (in.cpu().rflags & ~kOverflow) | (flags & kOverflow);
        }
    });
}

template <bool kLeft>
void double_shift(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t destination = in.read_operand(insn, 0);
    uint64_t source = in.read_operand(insn, 1);
    uint8_t count = static_cast<uint8_t>(in.read_operand(insn, 2));
    with_operand_width(insn.operands[0].size, [&]<typename T>(T) {
        auto r = kLeft ? alu::shld(static_cast<T>(destination), static_cast<T>(source), count)
                       : alu::shrd(static_cast<T>(destination), static_cast<T>(source), count);
        commit(in, insn, r, true);
    });
}

// MUL/IMUL with one operand: rAX (AL) times the operand into rDX:rAX (AX).
template <bool kSigned>
void multiply_widening(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    uint64_t source = in.read_operand(insn, 0);
    int size = insn.operands[0].size;
    with_operand_width(size, [&]<typename T>(T) {
        T accumulator = static_cast<T>(cpu.gpr[RAX]);
        auto r = kSigned ? alu::imul_widening(accumulator, static_cast<T>(source))
                         : alu::mul(accumulator, static_cast<T>(source));
        if (size == 1) {
            write_gpr(cpu, RAX, 2, (uint64_t{r.high} << 8) | r.low);
        } else {
            write_gpr(cpu, RAX, size, r.low);
            write_gpr(cpu, RDX, size, r.high);
        }
        cpu.rflags = r.merged_into(cpu.rflags);
    });
}

// IMUL r, r/m [, imm]: truncating.
void multiply_truncating(Interpreter& in, const DecodedInstruction& insn) {
    bool three_operands = insn.operand_count == 3;
    uint64_t a = in.read_operand(insn, three_operands ? 1 : 0);
    uint64_t b = in.read_operand(insn, three_operands ? 2 : 1);
    with_operand_width(insn.operands[0].size, [&]<typename T>(T) {
        auto r = alu::imul_truncating(static_cast<T>(a), static_cast<T>(b));
        commit(in, insn, r, true);
    });
}

template <bool kSigned>
void divide(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    uint64_t divisor = in.read_operand(insn, 0);
    int size = insn.operands[0].size;
    with_operand_width(size, [&]<typename T>(T) {
        T high, low;
        if (size == 1) {
            high = static_cast<T>(cpu.gpr[RAX] >> 8);
            low = static_cast<T>(cpu.gpr[RAX]);
        } else {
            high = static_cast<T>(cpu.gpr[RDX]);
            low = static_cast<T>(cpu.gpr[RAX]);
        }
        auto r = kSigned ? alu::idiv(high, low, static_cast<T>(divisor))
                         : alu::div(high, low, static_cast<T>(divisor));
        if (r.divide_error) {
            throw GuestFault::de();
        }
        if (size == 1) {
            write_gpr(cpu, RAX, 2, (uint64_t{r.remainder} << 8) | r.quotient);
        } else {
            write_gpr(cpu, RAX, size, r.quotient);
            write_gpr(cpu, RDX, size, r.remainder);
        }
        cpu.rflags = r.merged_into(cpu.rflags);
    });
}

} // namespace

void register_integer_arithmetic_handlers(HandlerTable& t) {
    using O = OpcodeId;
    for (O id : {O::ADD_EbGb, O::ADD_EvGv, O::ADD_GbEb, O::ADD_GvEv, O::ADD_ALIb, O::ADD_rAXIz,
                 O::ADD_EbIb, O::ADD_EvIz, O::ADD_EvIbs}) {
        t.set(id, binary<BinaryOp::Add>);
    }
    for (O id : {O::OR_EbGb, O::OR_EvGv, O::OR_GbEb, O::OR_GvEv, O::OR_ALIb, O::OR_rAXIz,
                 O::OR_EbIb, O::OR_EvIz, O::OR_EvIbs}) {
        t.set(id, binary<BinaryOp::Or>);
    }
    for (O id : {O::ADC_EbGb, O::ADC_EvGv, O::ADC_GbEb, O::ADC_GvEv, O::ADC_ALIb, O::ADC_rAXIz,
                 O::ADC_EbIb, O::ADC_EvIz, O::ADC_EvIbs}) {
        t.set(id, binary<BinaryOp::Adc>);
    }
    for (O id : {O::SBB_EbGb, O::SBB_EvGv, O::SBB_GbEb, O::SBB_GvEv, O::SBB_ALIb, O::SBB_rAXIz,
                 O::SBB_EbIb, O::SBB_EvIz, O::SBB_EvIbs}) {
        t.set(id, binary<BinaryOp::Sbb>);
    }
    for (O id : {O::AND_EbGb, O::AND_EvGv, O::AND_GbEb, O::AND_GvEv, O::AND_ALIb, O::AND_rAXIz,
                 O::AND_EbIb, O::AND_EvIz, O::AND_EvIbs}) {
        t.set(id, binary<BinaryOp::And>);
    }
    for (O id : {O::SUB_EbGb, O::SUB_EvGv, O::SUB_GbEb, O::SUB_GvEv, O::SUB_ALIb, O::SUB_rAXIz,
                 O::SUB_EbIb, O::SUB_EvIz, O::SUB_EvIbs}) {
        t.set(id, binary<BinaryOp::Sub>);
    }
    for (O id : {O::XOR_EbGb, O::XOR_EvGv, O::XOR_GbEb, O::XOR_GvEv, O::XOR_ALIb, O::XOR_rAXIz,
                 O::XOR_EbIb, O::XOR_EvIz, O::XOR_EvIbs}) {
        t.set(id, binary<BinaryOp::Xor>);
    }
    for (O id : {O::CMP_EbGb, O::CMP_EvGv, O::CMP_GbEb, O::CMP_GvEv, O::CMP_ALIb, O::CMP_rAXIz,
                 O::CMP_EbIb, O::CMP_EvIz, O::CMP_EvIbs}) {
        t.set(id, binary<BinaryOp::Cmp>);
    }
    for (O id : {O::TEST_EbGb, O::TEST_EvGv, O::TEST_ALIb, O::TEST_rAXIz, O::TEST_EbIb,
                 O::TEST_EbIb_ALIAS, O::TEST_EvIz, O::TEST_EvIz_ALIAS}) {
        t.set(id, binary<BinaryOp::Test>);
    }
    t.set(O::INC_Eb, unary<UnaryOp::Inc>);
    t.set(O::INC_Ev, unary<UnaryOp::Inc>);
    t.set(O::DEC_Eb, unary<UnaryOp::Dec>);
    t.set(O::DEC_Ev, unary<UnaryOp::Dec>);
    t.set(O::NEG_Eb, unary<UnaryOp::Neg>);
    t.set(O::NEG_Ev, unary<UnaryOp::Neg>);
    t.set(O::NOT_Eb, unary<UnaryOp::Not>);
    t.set(O::NOT_Ev, unary<UnaryOp::Not>);
    for (O id : {O::ROL_EbIb, O::ROL_EvIb, O::ROL_Eb1, O::ROL_Ev1, O::ROL_EbCL, O::ROL_EvCL}) {
        t.set(id, shift<ShiftOp::Rol>);
    }
    for (O id : {O::ROR_EbIb, O::ROR_EvIb, O::ROR_Eb1, O::ROR_Ev1, O::ROR_EbCL, O::ROR_EvCL}) {
        t.set(id, shift<ShiftOp::Ror>);
    }
    for (O id : {O::RCL_EbIb, O::RCL_EvIb, O::RCL_Eb1, O::RCL_Ev1, O::RCL_EbCL, O::RCL_EvCL}) {
        t.set(id, shift<ShiftOp::Rcl>);
    }
    for (O id : {O::RCR_EbIb, O::RCR_EvIb, O::RCR_Eb1, O::RCR_Ev1, O::RCR_EbCL, O::RCR_EvCL}) {
        t.set(id, shift<ShiftOp::Rcr>);
    }
    for (O id : {O::SHL_EbIb, O::SHL_EvIb, O::SHL_Eb1, O::SHL_Ev1, O::SHL_EbCL, O::SHL_EvCL}) {
        t.set(id, shift<ShiftOp::Shl>);
    }
    for (O id : {O::SHR_EbIb, O::SHR_EvIb, O::SHR_Eb1, O::SHR_Ev1, O::SHR_EbCL, O::SHR_EvCL}) {
        t.set(id, shift<ShiftOp::Shr>);
    }
    for (O id : {O::SAL_EbIb, O::SAL_EvIb, O::SAL_Eb1, O::SAL_Ev1, O::SAL_EbCL, O::SAL_EvCL}) {
        t.set(id, shift<ShiftOp::Sal>);
    }
    for (O id : {O::SAR_EbIb, O::SAR_EvIb, O::SAR_Eb1, O::SAR_Ev1, O::SAR_EbCL, O::SAR_EvCL}) {
        t.set(id, shift<ShiftOp::Sar>);
    }
    t.set(O::SHLD_EvGvIb, double_shift<true>);
    t.set(O::SHLD_EvGvCL, double_shift<true>);
    t.set(O::SHRD_EvGvIb, double_shift<false>);
    t.set(O::SHRD_EvGvCL, double_shift<false>);
    t.set(O::MUL_Eb, multiply_widening<false>);
    t.set(O::MUL_Ev, multiply_widening<false>);
    t.set(O::IMUL_Eb, multiply_widening<true>);
    t.set(O::IMUL_Ev, multiply_widening<true>);
    t.set(O::IMUL_GvEv, multiply_truncating);
    t.set(O::IMUL_GvEvIz, multiply_truncating);
    t.set(O::IMUL_GvEvIbs, multiply_truncating);
    t.set(O::DIV_Eb, divide<false>);
    t.set(O::DIV_Ev, divide<false>);
    t.set(O::IDIV_Eb, divide<true>);
    t.set(O::IDIV_Ev, divide<true>);
}

} // namespace krr
