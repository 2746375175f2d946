// The instructions that test a condition code: Jcc, SETcc, CMOVcc. The
// condition is the low four bits of the opcode byte in all three.
#include "replay-engine/alu/condition.h"
#include "replay-engine/interpreter/handler_table.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

bool holds(Interpreter& in, const DecodedInstruction& insn) {
    return alu::condition(static_cast<uint8_t>(insn.opcode_byte & 0xf), in.cpu().rflags);
}

void jcc(Interpreter& in, const DecodedInstruction& insn) {
    if (holds(in, insn)) {
        uint64_t target = in.next_rip + insn.immediate[insn.operands[0].reg];
        if (!is_canonical(target)) {
            throw GuestFault::gp(0);
        }
        in.next_rip = target;
    }
}

void setcc(Interpreter& in, const DecodedInstruction& insn) {
    in.write_operand(insn, 0, holds(in, insn) ? 1 : 0);
}

void cmovcc(Interpreter& in, const DecodedInstruction& insn) {
    // The source is read (and may fault) whatever the condition.
    uint64_t source = in.read_operand(insn, 1);
    if (holds(in, insn)) {
        in.write_operand(insn, 0, source);
    } else if (insn.operands[0].size == 4) {
        // A 32-bit CMOV zero-extends its destination even when it does not move.
        CpuState& cpu = in.cpu();
        uint8_t reg = insn.operands[0].reg;
        cpu.gpr[reg] &= 0xffffffffULL;
    }
}

} // namespace

void register_condition_handlers(HandlerTable& t) {
    using O = OpcodeId;
    for (O id :
         {O::JO_Jb, O::JNO_Jb, O::JB_Jb, O::JAE_Jb, O::JE_Jb, O::JNE_Jb, O::JBE_Jb, O::JA_Jb,
          O::JS_Jb, O::JNS_Jb, O::JP_Jb, O::JNP_Jb, O::JL_Jb, O::JGE_Jb, O::JLE_Jb, O::JG_Jb,
          O::JO_Jz, O::JNO_Jz, O::JB_Jz, O::JAE_Jz, O::JE_Jz, O::JNE_Jz, O::JBE_Jz, O::JA_Jz,
          O::JS_Jz, O::JNS_Jz, O::JP_Jz, O::JNP_Jz, O::JL_Jz, O::JGE_Jz, O::JLE_Jz, O::JG_Jz}) {
        t.set(id, jcc);
    }
    for (O id : {O::SETO_Eb, O::SETNO_Eb, O::SETB_Eb, O::SETAE_Eb, O::SETE_Eb, O::SETNE_Eb,
                 O::SETBE_Eb, O::SETA_Eb, O::SETS_Eb, O::SETNS_Eb, O::SETP_Eb, O::SETNP_Eb,
                 O::SETL_Eb, O::SETGE_Eb, O::SETLE_Eb, O::SETG_Eb}) {
        t.set(id, setcc);
    }
    for (O id : {O::CMOVO_GvEv, O::CMOVNO_GvEv, O::CMOVB_GvEv, O::CMOVAE_GvEv, O::CMOVE_GvEv,
                 O::CMOVNE_GvEv, O::CMOVBE_GvEv, O::CMOVA_GvEv, O::CMOVS_GvEv, O::CMOVNS_GvEv,
                 O::CMOVP_GvEv, O::CMOVNP_GvEv, O::CMOVL_GvEv, O::CMOVGE_GvEv, O::CMOVLE_GvEv,
                 O::CMOVG_GvEv}) {
        t.set(id, cmovcc);
    }
}

} // namespace krr
