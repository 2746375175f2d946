// Instructions that read or set RFLAGS directly: PUSHF/POPF, LAHF/SAHF,
// CLC/STC/CMC, CLD/STD, CLI/STI (with STI's interrupt shadow).
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/system/control_transfer.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

constexpr uint64_t kCf = 1ULL << 0, kIf = 1ULL << 9, kDf = 1ULL << 10, kRf = 1ULL << 16,
                   kVm = 1ULL << 17;
// SF ZF AF PF CF: what LAHF/SAHF move.
constexpr uint64_t kLowStatus = 0xd5;

void pushf(Interpreter& in, const DecodedInstruction& insn) {
    // The image has RF and VM cleared.
    in.push(in.cpu().rflags & ~(kRf | kVm), insn.operand_size / 8);
}

void popf(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    int size = insn.operand_size / 8;
    uint64_t popped = in.read_memory(cpu.gpr[RSP], size);
    uint64_t merged = merge_popped_flags(cpu, cpu.rflags, popped, false);
    if (size == 2) {
        merged = (cpu.rflags & ~0xffffULL) | (merged & 0xffff);
    }
    cpu.gpr[RSP] += static_cast<uint64_t>(size);
    cpu.rflags = merged;
}

void lahf(Interpreter& in, const DecodedInstruction&) {
    CpuState& cpu = in.cpu();
    uint64_t ah = (cpu.rflags & kLowStatus) | 2;
    cpu.gpr[RAX] = (cpu.gpr[RAX] & ~0xff00ULL) | (ah << 8);
}

void sahf(Interpreter& in, const DecodedInstruction&) {
    CpuState& cpu = in.cpu();
    uint64_t ah = (cpu.gpr[RAX] >> 8) & 0xff;
    cpu.rflags = (cpu.rflags & ~kLowStatus) | (ah & kLowStatus) | 2;
}

void clc(Interpreter& in, const DecodedInstruction&) {
    in.cpu().rflags &= ~kCf;
}
void stc(Interpreter& in, const DecodedInstruction&) {
    in.cpu().rflags |= kCf;
}
void cmc(Interpreter& in, const DecodedInstruction&) {
    in.cpu().rflags ^= kCf;
}
void cld(Interpreter& in, const DecodedInstruction&) {
    in.cpu().rflags &= ~kDf;
}
void std_(Interpreter& in, const DecodedInstruction&) {
    in.cpu().rflags |= kDf;
}

void require_iopl(Interpreter& in) {
    if (in.cpl() > ((in.cpu().rflags >> 12) & 3)) {
        throw GuestFault::gp(0);
    }
}

void cli(Interpreter& in, const DecodedInstruction&) {
    require_iopl(in);
    in.cpu().rflags &= ~kIf;
}

void sti(Interpreter& in, const DecodedInstruction&) {
    require_iopl(in);
    CpuState& cpu = in.cpu();
    if (!(cpu.rflags & kIf)) {
        // Interrupts stay blocked until the next instruction completes, so
        // "sti; hlt" cannot lose a wake-up.
        cpu.events.interrupt_shadow = 1;
    }
    cpu.rflags |= kIf;
}

} // namespace

void register_flag_handlers(HandlerTable& t) {
    t.set(OpcodeId::PUSHF, pushf);
    t.set(OpcodeId::POPF, popf);
    t.set(OpcodeId::LAHF, lahf);
    t.set(OpcodeId::SAHF, sahf);
    t.set(OpcodeId::CLC, clc);
    t.set(OpcodeId::STC, stc);
    t.set(OpcodeId::CMC, cmc);
    t.set(OpcodeId::CLD, cld);
    t.set(OpcodeId::STD, std_);
    t.set(OpcodeId::CLI, cli);
    t.set(OpcodeId::STI, sti);
}

} // namespace krr
