// MOV and its relatives, LEA, XCHG, the stack instructions, the sign
// extensions (CBW...CQO), BSWAP and XLAT: instructions that move data and
// change no flags.
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/system/segment_load.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

int size_of(const DecodedInstruction& insn, int index) {
    return insn.operands[static_cast<size_t>(index)].size;
}

// MOV dst, src for every form whose operands the decoder describes fully.
void mov(Interpreter& in, const DecodedInstruction& insn) {
    in.write_operand(insn, 0, in.read_operand(insn, 1));
}

void movzx(Interpreter& in, const DecodedInstruction& insn) {
    in.write_operand(insn, 0, in.read_operand(insn, 1));
}

void movsx(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t v = sign_extend_from(in.read_operand(insn, 1), size_of(insn, 1));
    in.write_operand(insn, 0, v);
}

// MOVSXD with a 16-bit operand size reads only the low word of a memory
// source (measured on Intel: 66 63 /r on the last two bytes before an
// unmapped page does not fault).
void movsxd(Interpreter& in, const DecodedInstruction& insn) {
    if (insn.operand_size == 16 && insn.operands[1].kind == cpu::OperandKind::Memory) {
        in.write_operand(insn, 0, in.read_memory(in.linear_address(insn), 2));
        return;
    }
    movsx(in, insn);
}

void mov_from_segment(Interpreter& in, const DecodedInstruction& insn) {
    // A register destination gets the zero-extended selector at the operand
    // size; memory always gets 16 bits.
    uint64_t selector = in.cpu().seg[insn.operands[1].reg].selector;
    if (insn.operands[0].kind == cpu::OperandKind::Memory) {
        in.write_memory(in.linear_address(insn), 2, selector);
    } else {
        in.write_operand(insn, 0, selector);
    }
}

void mov_to_segment(Interpreter& in, const DecodedInstruction& insn) {
    uint8_t which = insn.operands[0].reg;
    if (which == CS || which > GS) {
        throw GuestFault::ud();
    }
    uint16_t selector = static_cast<uint16_t>(in.read_operand(insn, 1));
    load_data_segment(in.cpu(), in.memory(), static_cast<SegmentIndex>(which), selector);
    if (which == SS) {
        in.cpu().events.interrupt_shadow = 1;
    }
}

// LSS, LFS, LGS: a far pointer in memory, the offset (of the operand size)
// then the selector. The segment is loaded before the register is written,
// so a selector that faults leaves the register unchanged.
template <SegmentIndex kSegment>
void load_far_pointer(Interpreter& in, const DecodedInstruction& insn) {
    const int size = insn.operand_size / 8;
    const uint64_t address = in.linear_address(insn);
    const uint64_t offset = in.read_memory(address, size);
    const auto selector =
        static_cast<uint16_t>(in.read_memory(address + static_cast<uint64_t>(size), 2));
    load_data_segment(in.cpu(), in.memory(), kSegment, selector);
    in.write_operand(insn, 0, offset);
}

void lea(Interpreter& in, const DecodedInstruction& insn) {
    in.write_operand(insn, 0, in.effective_address(insn));
}

void xchg(Interpreter& in, const DecodedInstruction& insn) {
    // Memory first: if the write faults, the register is unchanged.
    uint64_t a = in.read_operand(insn, 0);
    uint64_t b = in.read_operand(insn, 1);
    in.write_operand(insn, 0, b);
    in.write_operand(insn, 1, a);
}

void push_operand(Interpreter& in, const DecodedInstruction& insn) {
    int size = insn.operand_size / 8;
    const cpu::Operand& op = insn.operands[0];
    // Immediates arrive sign-extended to 64 bits; the push size truncates.
    uint64_t v =
        op.kind == cpu::OperandKind::Immediate ? insn.immediate[op.reg] : in.read_operand(insn, 0);
    in.push(v, size);
}

void pop_operand(Interpreter& in, const DecodedInstruction& insn) {
    int size = insn.operand_size / 8;
    CpuState& cpu = in.cpu();
    uint64_t old_rsp = cpu.gpr[RSP];
    uint64_t v = in.read_memory(old_rsp, size);
    if (insn.operands[0].kind == cpu::OperandKind::Memory) {
        // POP to memory computes the address with RSP already incremented.
        cpu.gpr[RSP] = old_rsp + static_cast<uint64_t>(size);
        try {
            in.write_operand(insn, 0, v);
        } catch (...) {
            cpu.gpr[RSP] = old_rsp;
            throw;
        }
        return;
    }
    cpu.gpr[RSP] = old_rsp + static_cast<uint64_t>(size);
    in.write_operand(insn, 0, v); // POP RSP: the popped value wins
}

void push_segment(Interpreter& in, const DecodedInstruction& insn) {
    in.push(in.cpu().seg[insn.operands[0].reg].selector, insn.operand_size / 8);
}

void pop_segment(Interpreter& in, const DecodedInstruction& insn) {
    int size = insn.operand_size / 8;
    CpuState& cpu = in.cpu();
    uint16_t selector = static_cast<uint16_t>(in.read_memory(cpu.gpr[RSP], size));
    load_data_segment(cpu, in.memory(), static_cast<SegmentIndex>(insn.operands[0].reg), selector);
    cpu.gpr[RSP] += static_cast<uint64_t>(size);
}

void enter(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    int size = insn.operand_size / 8;
    uint64_t alloc = insn.immediate[0] & 0xffff;
    unsigned level = insn.immediate[1] & 31;
    // Work on copies so a fault leaves RSP and RBP as they were.
    uint64_t rsp = cpu.gpr[RSP] - static_cast<uint64_t>(size);
    in.write_memory(rsp, size, read_gpr(cpu, RBP, size));
    uint64_t frame = rsp;
    uint64_t rbp = cpu.gpr[RBP];
    for (unsigned i = 1; i < level; ++i) {
        rbp -= static_cast<uint64_t>(size);
        uint64_t v = in.read_memory(rbp, size);
        rsp -= static_cast<uint64_t>(size);
        in.write_memory(rsp, size, v);
    }
    if (level > 0) {
        rsp -= static_cast<uint64_t>(size);
        in.write_memory(rsp, size, frame);
    }
    rsp -= alloc;
    // The final stack pointer must be writable (the CPU probes it).
    (void)in.memory().translate(rsp, Access::Write, in.user_mode);
    write_gpr(cpu, RBP, size, frame);
    cpu.gpr[RSP] = rsp;
}

void leave(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    int size = insn.operand_size / 8;
    uint64_t v = in.read_memory(cpu.gpr[RBP], size);
    cpu.gpr[RSP] = cpu.gpr[RBP] + static_cast<uint64_t>(size);
    write_gpr(cpu, RBP, size, v);
}

// CBW/CWDE/CDQE: sign-extend the lower half of rAX into rAX.
void convert_accumulator(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    int size = insn.operand_size / 8;
    uint64_t v = sign_extend_from(cpu.gpr[RAX], size / 2);
    write_gpr(cpu, RAX, size, v);
}

// CWD/CDQ/CQO: sign of rAX into rDX.
void convert_into_rdx(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    int size = insn.operand_size / 8;
    uint64_t sign = (read_gpr(cpu, RAX, size) >> (8 * size - 1)) & 1;
    write_gpr(cpu, RDX, size, sign ? ~0ULL : 0);
}

void bswap(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    uint8_t reg = insn.operands[0].reg;
    if (insn.operand_size == 64) {
        cpu.gpr[reg] = __builtin_bswap64(cpu.gpr[reg]);
    } else if (insn.operand_size == 32) {
        write_gpr(cpu, reg, 4, __builtin_bswap32(static_cast<uint32_t>(cpu.gpr[reg])));
    } else {
        // BSWAP r16 is undefined; Intel CPUs clear the low word.
        write_gpr(cpu, reg, 2, 0);
    }
}

void xlat(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    uint64_t address = cpu.gpr[RBX] + (cpu.gpr[RAX] & 0xff);
    if (insn.address_size == 32) {
        address &= 0xffffffffULL;
    }
    int8_t seg = insn.prefixes.segment;
    if (seg == FS || seg == GS) {
        address += cpu.seg[seg].base;
    }
    write_gpr(cpu, RAX, 1, in.read_memory(address, 1));
}

} // namespace

void register_data_transfer_handlers(HandlerTable& t) {
    for (OpcodeId id :
         {OpcodeId::MOV_EbGb, OpcodeId::MOV_EvGv, OpcodeId::MOV_GbEb, OpcodeId::MOV_GvEv,
          OpcodeId::MOV_ALOb, OpcodeId::MOV_rAXOv, OpcodeId::MOV_ObAL, OpcodeId::MOV_OvrAX,
          OpcodeId::MOV_ZbIb, OpcodeId::MOV_ZvIv, OpcodeId::MOV_EbIb, OpcodeId::MOV_EvIz,
          OpcodeId::MOVNTI_MyGy}) {
        t.set(id, mov);
    }
    t.set(OpcodeId::MOVZX_GvEb, movzx);
    t.set(OpcodeId::MOVZX_GvEw, movzx);
    t.set(OpcodeId::MOVSX_GvEb, movsx);
    t.set(OpcodeId::MOVSX_GvEw, movsx);
    t.set(OpcodeId::MOVSXD_GvEd, movsxd);
    t.set(OpcodeId::MOV_EvSw, mov_from_segment);
    t.set(OpcodeId::MOV_SwEw, mov_to_segment);
    t.set(OpcodeId::LSS_GvMp, load_far_pointer<SS>);
    t.set(OpcodeId::LFS_GvMp, load_far_pointer<FS>);
    t.set(OpcodeId::LGS_GvMp, load_far_pointer<GS>);
    t.set(OpcodeId::LEA_GvM, lea);
    t.set(OpcodeId::XCHG_EbGb, xchg);
    t.set(OpcodeId::XCHG_EvGv, xchg);
    t.set(OpcodeId::XCHG_ZvrAX, xchg);
    for (OpcodeId id :
         {OpcodeId::PUSH_Zv, OpcodeId::PUSH_Iz, OpcodeId::PUSH_Ibs, OpcodeId::PUSH_Ev}) {
        t.set(id, push_operand);
    }
    t.set(OpcodeId::POP_Zv, pop_operand);
    t.set(OpcodeId::POP_Ev, pop_operand);
    t.set(OpcodeId::PUSH_FS, push_segment);
    t.set(OpcodeId::PUSH_GS, push_segment);
    t.set(OpcodeId::POP_FS, pop_segment);
    t.set(OpcodeId::POP_GS, pop_segment);
    t.set(OpcodeId::ENTER_IwIb, enter);
    t.set(OpcodeId::LEAVE, leave);
    t.set(OpcodeId::CBW, convert_accumulator);
    t.set(OpcodeId::CWD, convert_into_rdx);
    t.set(OpcodeId::BSWAP_Zy, bswap);
    t.set(OpcodeId::XLAT, xlat);
}

} // namespace krr
