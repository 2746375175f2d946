// Near jumps, calls and returns, LOOP/JRCXZ, and far returns. Conditional
// jumps live with the condition evaluation (conditions.cpp).
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/system/control_transfer.h"
#include "replay-engine/system/descriptor_tables.h"
#include "replay-engine/system/segment_load.h"

#include <optional>

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

// A far return with 16/32-bit stack slots to 64-bit code at the same
// privilege (RIP zero-extended from the slot); returns to an outer level or
// to compatibility mode stop as not implemented.
void far_return_narrow(Interpreter& in, const DecodedInstruction& insn, uint16_t extra) {
    CpuState& cpu = in.cpu();
    const int size = insn.operand_size / 8;
    const uint64_t rsp = cpu.gpr[RSP];
    const uint64_t new_rip = in.read_memory(rsp, size);
    const auto new_cs =
        static_cast<uint16_t>(in.read_memory(rsp + static_cast<uint64_t>(size), size));
    Segment cs = code_segment_for_return(cpu, in.memory(), new_cs);
    if ((new_cs & 3u) != in.cpl() || !cs.l || cs.db) {
        in.request_stop(StopReason::Unimplemented,
                        "far return with a 16/32-bit operand size to another privilege level or "
                        "to compatibility mode is not implemented");
        return;
    }
    cpu.seg[CS] = cs;
    cpu.gpr[RSP] = rsp + 2 * static_cast<uint64_t>(size) + extra;
    in.next_rip = new_rip;
}

void far_return(Interpreter& in, const DecodedInstruction& insn) {
    uint16_t extra = insn.immediate_count ? static_cast<uint16_t>(insn.immediate[0]) : 0;
    if (insn.operand_size != 64) {
        far_return_narrow(in, insn, extra);
        return;
    }
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

// The code segment descriptor a far JMP or CALL names directly, checked for
// a transfer at the current privilege: non-conforming code needs RPL <= CPL
// and DPL == CPL, conforming code DPL <= CPL. Nothing for a system
// descriptor (call gate, TSS, task gate), which the caller does not handle.
std::optional<Descriptor> direct_code_descriptor(Interpreter& in, uint16_t selector) {
    const unsigned cpl = in.cpl();
    const uint32_t error = selector & 0xfffcu;
    if (error == 0) {
        throw GuestFault::gp(0);
    }
    auto d = read_descriptor(in.memory(), in.cpu(), selector);
    if (!d) {
        throw GuestFault::gp(error);
    }
    if (!d->segment.s) {
        return std::nullopt;
    }
    bool allowed =
        d->conforming() ? d->segment.dpl <= cpl : (selector & 3u) <= cpl && d->segment.dpl == cpl;
    if (!d->is_code() || !allowed) {
        throw GuestFault::gp(error);
    }
    if (!d->segment.present) {
        throw GuestFault{kSegmentNotPresent, true, error, 0};
    }
    return d;
}

// JMP/CALL m16:16, m16:32, m16:64: a far pointer in memory (offset of the
// operand size, then the selector) to 64-bit code at the current privilege.
// A CALL pushes CS and the return address in operand-size slots; both are
// written before RSP changes, so a fault leaves the stack pointer as it was.
template <bool kCall>
void far_transfer(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    const int size = insn.operand_size / 8;
    const uint64_t pointer = in.linear_address(insn);
    const uint64_t offset = in.read_memory(pointer, size);
    const auto selector =
        static_cast<uint16_t>(in.read_memory(pointer + static_cast<uint64_t>(size), 2));
    std::optional<Descriptor> d = direct_code_descriptor(in, selector);
    if (!d || !d->segment.l || d->segment.db) {
        in.request_stop(StopReason::Unimplemented,
                        "far JMP/CALL through a gate or to compatibility mode is not implemented");
        return;
    }
    if (!is_canonical(offset)) {
        throw GuestFault::gp(0);
    }
    if (kCall) {
        const uint64_t slot = static_cast<uint64_t>(size);
        const uint64_t rsp = cpu.gpr[RSP];
        in.write_memory(rsp - slot, size, cpu.seg[CS].selector);
        in.write_memory(rsp - 2 * slot, size, in.next_rip);
        cpu.gpr[RSP] = rsp - 2 * slot;
    }
    mark_descriptor_accessed(in.memory(), cpu, selector);
    Segment cs = d->segment;
    cs.type |= 1;
    cs.selector = static_cast<uint16_t>((selector & 0xfffcu) | in.cpl());
    cpu.seg[CS] = cs;
    in.next_rip = offset;
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
    t.set(OpcodeId::JMPF_Mp, far_transfer<false>);
    t.set(OpcodeId::CALLF_Mp, far_transfer<true>);
}

} // namespace krr
