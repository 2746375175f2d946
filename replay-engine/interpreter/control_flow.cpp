// Near jumps, calls and returns, LOOP/JRCXZ, and far returns. Conditional
// jumps live with the condition evaluation (conditions.cpp).
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/system/control_transfer.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

constexpr uint64_t kZf = 1ULL << 6;

uint64_t branch_target(Interpreter& in, const DecodedInstruction& insn) {
    const cpu::Operand& op = insn.operands[0];
    return in.next_rip + insn.immediate[op.reg];
}

void jump_to(Interpreter& in, uint64_t target) {
    if (!is_canonical(target)) {
        throw GuestFault::gp(0);
    }
    in.next_rip = target;
}

void jmp_relative(Interpreter& in, const DecodedInstruction& insn) {
    jump_to(in, branch_target(in, insn));
}

void jmp_indirect(Interpreter& in, const DecodedInstruction& insn) {
    jump_to(in, in.read_operand(insn, 0));
}

void call_relative(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t target = branch_target(in, insn);
    if (!is_canonical(target)) {
        throw GuestFault::gp(0);
    }
    in.push(in.next_rip, 8);
    in.next_rip = target;
}

void call_indirect(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t target = in.read_operand(insn, 0);
    if (!is_canonical(target)) {
        throw GuestFault::gp(0);
    }
    in.push(in.next_rip, 8);
    in.next_rip = target;
}

void ret(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    uint64_t target = in.read_memory(cpu.gpr[RSP], 8);
    if (!is_canonical(target)) {
        throw GuestFault::gp(0);
    }
    uint64_t extra = insn.immediate_count ? (insn.immediate[0] & 0xffff) : 0;
    cpu.gpr[RSP] += 8 + extra;
    in.next_rip = target;
}

void far_return(Interpreter& in, const DecodedInstruction& insn) {
    if (insn.operand_size != 64) {
        in.request_stop(StopReason::Unimplemented,
                        "far return with a 16/32-bit operand size (to compatibility mode)");
        return;
    }
    uint16_t extra = insn.immediate_count ? static_cast<uint16_t>(insn.immediate[0]) : 0;
    execute_far_return64(in.cpu(), in.memory(), extra);
    in.next_rip = in.cpu().rip;
}

// LOOP, LOOPE, LOOPNE, JRCXZ: the count register follows the address size.
uint64_t count_register(Interpreter& in, const DecodedInstruction& insn) {
    return insn.address_size == 32 ? in.cpu().gpr[RCX] & 0xffffffffULL : in.cpu().gpr[RCX];
}

void decrement_count(Interpreter& in, const DecodedInstruction& insn) {
    write_gpr(in.cpu(), RCX, insn.address_size / 8, count_register(in, insn) - 1);
}

void loop(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t target = branch_target(in, insn);
    decrement_count(in, insn);
    if (count_register(in, insn) != 0) {
        jump_to(in, target);
    }
}

void loope(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t target = branch_target(in, insn);
    decrement_count(in, insn);
    if (count_register(in, insn) != 0 && (in.cpu().rflags & kZf)) {
        jump_to(in, target);
    }
}

void loopne(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t target = branch_target(in, insn);
    decrement_count(in, insn);
    if (count_register(in, insn) != 0 && !(in.cpu().rflags & kZf)) {
        jump_to(in, target);
    }
}

void jrcxz(Interpreter& in, const DecodedInstruction& insn) {
    if (count_register(in, insn) == 0) {
        jump_to(in, branch_target(in, insn));
    }
}

void far_transfer_unimplemented(Interpreter& in, const DecodedInstruction&) {
    in.request_stop(StopReason::Unimplemented, "far JMP/CALL through memory is not implemented");
}

} // namespace

void register_control_flow_handlers(HandlerTable& t) {
    t.set(OpcodeId::JMP_Jb, jmp_relative);
    t.set(OpcodeId::JMP_Jz, jmp_relative);
    t.set(OpcodeId::JMP_Ev, jmp_indirect);
    t.set(OpcodeId::CALL_Jz, call_relative);
    t.set(OpcodeId::CALL_Ev, call_indirect);
    t.set(OpcodeId::RET, ret);
    t.set(OpcodeId::RET_Iw, ret);
    t.set(OpcodeId::RETF, far_return);
    t.set(OpcodeId::RETF_Iw, far_return);
    t.set(OpcodeId::LOOP_Jb, loop);
    t.set(OpcodeId::LOOPE_Jb, loope);
    t.set(OpcodeId::LOOPNE_Jb, loopne);
    t.set(OpcodeId::JRCXZ_Jb, jrcxz);
    t.set(OpcodeId::JMPF_Mp, far_transfer_unimplemented);
    t.set(OpcodeId::CALLF_Mp, far_transfer_unimplemented);
}

} // namespace krr
