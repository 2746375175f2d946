// The size-generic handlers (ALU, moves, bit operations, flags, CPUID, MSRs,
// control registers, port I/O) are shared with 64-bit mode: their memory
// operands go through Interpreter::linear_address, which adds the segment
// base outside 64-bit mode, and their stack accesses through push/pop, which
// follow SS. Near branches, returns, POP, POPF, far JMP with a direct
// pointer, segment register loads and LGDT/LIDT differ and have handlers
// here. String instructions, far calls and returns, IRET, INT n and
// everything else stop as not implemented; so do exceptions and interrupts
// (Interpreter::deliver), because real-mode IVT and 32-bit IDT delivery do
// not exist yet. Segment limits are not checked.
#include "replay-engine/interpreter/legacy_mode.h"

#include "replay-engine/alu/condition.h"
#include "replay-engine/cpu/opcode_table.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/system/control_transfer.h"
#include "replay-engine/system/descriptor_tables.h"
#include "replay-engine/system/segment_load.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::InstructionFamily;
using cpu::OpcodeId;

constexpr uint64_t kCr0Pe = 1ULL << 0;

bool real_mode(const CpuState& cpu) {
    return !(cpu.cr0 & kCr0Pe);
}

uint64_t operand_mask(const DecodedInstruction& insn) {
    return insn.operand_size == 16 ? 0xffffULL : 0xffffffffULL;
}

// In real mode a segment register load sets the selector and base =
// selector * 16; the rest of the hidden part (limit, attributes) stays.
void load_real_mode_segment(Segment& segment, uint16_t selector) {
    segment.selector = selector;
    segment.base = static_cast<uint64_t>(selector) << 4;
    segment.present = 1;
    segment.unusable = 0;
}

uint64_t relative_target(Interpreter& in, const DecodedInstruction& insn) {
    return (in.next_rip + insn.immediate[insn.operands[0].reg]) & operand_mask(insn);
}

void jmp_relative(Interpreter& in, const DecodedInstruction& insn) {
    in.next_rip = relative_target(in, insn);
}

void jcc(Interpreter& in, const DecodedInstruction& insn) {
    if (alu::condition(static_cast<uint8_t>(insn.opcode_byte & 0xf), in.cpu().rflags)) {
        in.next_rip = relative_target(in, insn);
    }
}

void jmp_indirect(Interpreter& in, const DecodedInstruction& insn) {
    in.next_rip = in.read_operand(insn, 0) & operand_mask(insn);
}

void call_relative(Interpreter& in, const DecodedInstruction& insn) {
    const uint64_t target = relative_target(in, insn);
    in.push(in.next_rip, insn.operand_size / 8);
    in.next_rip = target;
}

void call_indirect(Interpreter& in, const DecodedInstruction& insn) {
    const uint64_t target = in.read_operand(insn, 0) & operand_mask(insn);
    in.push(in.next_rip, insn.operand_size / 8);
    in.next_rip = target;
}

void ret(Interpreter& in, const DecodedInstruction& insn) {
    const uint64_t target = in.pop(insn.operand_size / 8) & operand_mask(insn);
    if (insn.immediate_count) {
        in.release_stack(insn.immediate[0] & 0xffff);
    }
    in.next_rip = target;
}

void pop_register(Interpreter& in, const DecodedInstruction& insn) {
    if (insn.operands[0].kind != cpu::OperandKind::Gpr) {
        in.request_stop(StopReason::Unimplemented,
                        "POP to memory is not implemented in 16/32-bit mode");
        return;
    }
    in.write_operand(insn, 0, in.pop(insn.operand_size / 8));
}

void popf(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    const int size = insn.operand_size / 8;
    const uint64_t popped = in.pop(size);
    uint64_t merged = merge_popped_flags(cpu, cpu.rflags, popped, false);
    if (size == 2) {
        merged = (cpu.rflags & ~0xffffULL) | (merged & 0xffff);
    }
    cpu.rflags = merged;
}

void mov_to_segment(Interpreter& in, const DecodedInstruction& insn) {
    const uint8_t which = insn.operands[0].reg;
    if (which == CS || which > GS) {
        throw GuestFault::ud();
    }
    const auto selector = static_cast<uint16_t>(in.read_operand(insn, 1));
    CpuState& cpu = in.cpu();
    if (real_mode(cpu)) {
        load_real_mode_segment(cpu.seg[which], selector);
    } else {
        load_data_segment(cpu, in.memory(), static_cast<SegmentIndex>(which), selector);
    }
    if (which == SS) {
        cpu.events.interrupt_shadow = 1;
    }
}

// JMP ptr16:16 / ptr16:32. In protected mode the selector must name a code
// segment at the current privilege; it may be a 64-bit one once EFER.LMA is
// set, which is how Linux's trampoline enters long mode.
void jmp_far_direct(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    const uint64_t offset = insn.immediate[0] & operand_mask(insn);
    const auto selector = static_cast<uint16_t>(insn.immediate[1]);
    if (real_mode(cpu)) {
        load_real_mode_segment(cpu.seg[CS], selector);
        in.next_rip = offset;
        return;
    }
    const uint32_t error = selector & 0xfffcu;
    if (error == 0) {
        throw GuestFault::gp(0);
    }
    auto d = read_descriptor(in.memory(), cpu, selector);
    if (!d) {
        throw GuestFault::gp(error);
    }
    if (!d->segment.s) {
        in.request_stop(StopReason::Unimplemented,
                        "far JMP through a gate or to a TSS is not implemented");
        return;
    }
    const unsigned cpl = in.cpl();
    const bool allowed =
        d->conforming() ? d->segment.dpl <= cpl : (selector & 3u) <= cpl && d->segment.dpl == cpl;
    if (!d->is_code() || !allowed) {
        throw GuestFault::gp(error);
    }
    if (!d->segment.present) {
        throw GuestFault{kSegmentNotPresent, true, error, 0};
    }
    mark_descriptor_accessed(in.memory(), cpu, selector);
    Segment cs = d->segment;
    cs.type |= 1;
    cs.selector = static_cast<uint16_t>((selector & 0xfffcu) | cpl);
    cpu.seg[CS] = cs;
    in.next_rip = offset;
}

// LGDT/LIDT m16&32: a 16-bit limit and a 32-bit base, of which a 16-bit
// operand size keeps 24 bits.
void load_descriptor_table(Interpreter& in, const DecodedInstruction& insn) {
    if (in.cpl() != 0 && !real_mode(in.cpu())) {
        throw GuestFault::gp(0);
    }
    const uint64_t address = in.linear_address(insn);
    const auto limit = static_cast<uint16_t>(in.read_memory(address, 2));
    uint64_t base = in.read_memory(address + 2, 4);
    if (insn.operand_size == 16) {
        base &= 0xffffff;
    }
    DescriptorTable& table = insn.opcode == OpcodeId::LGDT_Ms ? in.cpu().gdtr : in.cpu().idtr;
    table = {base, limit};
}

// Families whose 64-bit handlers are size-generic: registers through the
// operand sizes, memory through linear_address, the stack through push/pop.
bool shared_family(InstructionFamily family) {
    switch (family) {
    case InstructionFamily::Alu:
    case InstructionFamily::Test:
    case InstructionFamily::IncDec:
    case InstructionFamily::Unary:
    case InstructionFamily::MulDiv:
    case InstructionFamily::Shift:
    case InstructionFamily::BitTest:
    case InstructionFamily::BitScan:
    case InstructionFamily::Mov:
    case InstructionFamily::MovExtend:
    case InstructionFamily::Cmov:
    case InstructionFamily::Setcc:
    case InstructionFamily::Xchg:
    case InstructionFamily::Convert:
    case InstructionFamily::Lea:
    case InstructionFamily::Io:
    case InstructionFamily::Hint:
    case InstructionFamily::Fence:
        return true;
    default:
        return false;
    }
}

void raise_invalid_opcode(Interpreter&, const DecodedInstruction&) {
    throw GuestFault::ud();
}

InstructionHandler shared(OpcodeId id) {
    return handler_table().get(id);
}

} // namespace

InstructionHandler legacy_mode_handler(const DecodedInstruction& insn) {
    const cpu::OpcodeRow& row = cpu::opcode_row(insn.opcode);
    switch (insn.opcode) {
    case OpcodeId::JMP_Jb:
    case OpcodeId::JMP_Jz:
        return jmp_relative;
    case OpcodeId::JMP_Ev:
        return jmp_indirect;
    case OpcodeId::CALL_Jz:
        return call_relative;
    case OpcodeId::CALL_Ev:
        return call_indirect;
    case OpcodeId::RET:
    case OpcodeId::RET_Iw:
        return ret;
    case OpcodeId::POP_Zv:
    case OpcodeId::POP_Ev:
        return pop_register;
    case OpcodeId::POPF:
        return popf;
    case OpcodeId::MOV_SwEw:
        return mov_to_segment;
    case OpcodeId::JMPF_Ap:
        return jmp_far_direct;
    case OpcodeId::LGDT_Ms:
    case OpcodeId::LIDT_Ms:
        return load_descriptor_table;
    case OpcodeId::UD0_GvEv:
    case OpcodeId::UD1_GvEv:
    case OpcodeId::UD2:
        return raise_invalid_opcode;
    // The 64-bit handlers of these are size-generic.
    case OpcodeId::INC_Zv:
        return shared(OpcodeId::INC_Ev);
    case OpcodeId::DEC_Zv:
        return shared(OpcodeId::DEC_Ev);
    case OpcodeId::PUSH_Zv:
    case OpcodeId::PUSH_Iz:
    case OpcodeId::PUSH_Ibs:
    case OpcodeId::PUSH_Ev:
    case OpcodeId::PUSHF:
    case OpcodeId::MOV_EvSw:
    case OpcodeId::CLC:
    case OpcodeId::STC:
    case OpcodeId::CMC:
    case OpcodeId::CLD:
    case OpcodeId::STD:
    case OpcodeId::CLI:
    case OpcodeId::STI:
    case OpcodeId::LAHF:
    case OpcodeId::SAHF:
    case OpcodeId::CPUID:
    case OpcodeId::RDMSR:
    case OpcodeId::WRMSR:
    case OpcodeId::RDTSC:
    case OpcodeId::MOV_CqRq:
    case OpcodeId::MOV_RqCq:
    case OpcodeId::WBINVD:
    case OpcodeId::INVD:
    case OpcodeId::HLT:
        return shared(insn.opcode);
    default:
        break;
    }
    const bool conditional_jump =
        (insn.map == cpu::OpcodeMap::OneByte && (insn.opcode_byte & 0xf0) == 0x70) ||
        (insn.map == cpu::OpcodeMap::Map0F && (insn.opcode_byte & 0xf0) == 0x80);
    if (conditional_jump) {
        return jcc;
    }
    return shared_family(row.family) ? shared(insn.opcode) : nullptr;
}

} // namespace krr
