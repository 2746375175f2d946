// BT/BTS/BTR/BTC (register and memory, where a register offset can reach
// far outside the operand) and the bit scans BSF/BSR (TZCNT and LZCNT run as
// BSF and BSR on this CPU, which has no BMI1/LZCNT: the F3 prefix is ignored,
// as on real CPUs without the features).
#include "replay-engine/alu/alu.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/interpreter/operand_width.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

enum class BitOp { Test, Set, Reset, Complement };

template <BitOp kOp>
void bit_test(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    const cpu::Operand& base = insn.operands[0];
    const bool immediate_offset = insn.operands[1].kind == cpu::OperandKind::Immediate;
    uint64_t offset_operand = in.read_operand(insn, 1);
    with_operand_width(base.size, [&]<typename T>(T) {
        auto apply = [&](T value, uint64_t bit) {
            switch (kOp) {
            case BitOp::Test:
                return alu::bt(value, bit);
            case BitOp::Set:
                return alu::bts(value, bit);
            case BitOp::Reset:
                return alu::btr(value, bit);
            case BitOp::Complement:
                return alu::btc(value, bit);
            }
            return alu::bt(value, bit);
        };
        if (base.kind == cpu::OperandKind::Memory && !immediate_offset) {
            // The register offset is signed and selects any bit around the
            // effective address.
            int64_t signed_offset =
                static_cast<int64_t>(sign_extend_from(offset_operand, base.size));
            alu::BitAddress where = alu::split_bit_offset<T>(signed_offset);
            // The displacement is part of the effective address, so it wraps
            // at the address size before the segment base is added.
            const uint64_t segment_base = in.linear_address(insn) - in.effective_address(insn);
            uint64_t offset =
                in.effective_address(insn) + static_cast<uint64_t>(where.byte_displacement);
            if (insn.address_size == 32) {
                offset &= 0xffffffffULL;
            }
            const uint64_t address = segment_base + offset;
            T value = static_cast<T>(in.read_memory(address, base.size));
            auto r = apply(value, where.bit);
            if (kOp != BitOp::Test) {
                in.write_memory(address, base.size, r.value);
            }
            cpu.rflags = r.merged_into(cpu.rflags);
            return;
        }
        T value = static_cast<T>(in.read_operand(insn, 0));
        auto r = apply(value, offset_operand);
        if (kOp != BitOp::Test && r.destination_written) {
            in.write_operand(insn, 0, r.value);
        }
        cpu.rflags = r.merged_into(cpu.rflags);
    });
}

template <bool kForward>
void bit_scan(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t source = in.read_operand(insn, 1);
    uint64_t destination = read_gpr(in.cpu(), insn.operands[0].reg, insn.operands[0].size);
    with_operand_width(insn.operands[0].size, [&]<typename T>(T) {
        auto r = kForward ? alu::bsf(static_cast<T>(destination), static_cast<T>(source))
                          : alu::bsr(static_cast<T>(destination), static_cast<T>(source));
        if (r.destination_written) {
            in.write_operand(insn, 0, r.value);
        }
        in.cpu().rflags = r.merged_into(in.cpu().rflags);
    });
}

} // namespace

void register_bit_handlers(HandlerTable& t) {
    using O = OpcodeId;
    t.set(O::BT_EvGv, bit_test<BitOp::Test>);
    t.set(O::BT_EvIb, bit_test<BitOp::Test>);
    t.set(O::BTS_EvGv, bit_test<BitOp::Set>);
    t.set(O::BTS_EvIb, bit_test<BitOp::Set>);
    t.set(O::BTR_EvGv, bit_test<BitOp::Reset>);
    t.set(O::BTR_EvIb, bit_test<BitOp::Reset>);
    t.set(O::BTC_EvGv, bit_test<BitOp::Complement>);
    t.set(O::BTC_EvIb, bit_test<BitOp::Complement>);
    t.set(O::BSF_GvEv, bit_scan<true>);
    t.set(O::TZCNT_GvEv, bit_scan<true>);
    t.set(O::BSR_GvEv, bit_scan<false>);
    t.set(O::LZCNT_GvEv, bit_scan<false>);
}

} // namespace krr
