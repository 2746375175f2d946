// The read-modify-write exchanges: XADD, CMPXCHG, CMPXCHG8B/16B. vCPUs run
// one at a time, so LOCK needs nothing more than doing the access in one go;
// a memory destination is written even when a compare fails, as the locked
// bus cycle does on hardware (so it faults on a read-only page).
#include "replay-engine/alu/alu.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/interpreter/operand_width.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

void xadd(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t destination = in.read_operand(insn, 0);
    uint64_t source = in.read_operand(insn, 1);
    with_operand_width(insn.operands[0].size, [&]<typename T>(T) {
        auto r = alu::xadd(static_cast<T>(destination), static_cast<T>(source));
        if (insn.operands[0].kind == cpu::OperandKind::Memory) {
            // Memory first: its address may use the source register as a
            // base, and a fault must leave the register unchanged.
            in.write_operand(insn, 0, r.value);
            in.write_operand(insn, 1, destination);
        } else {
            // xadd reg, reg with one register: the sum is written last and wins.
            in.write_operand(insn, 1, destination);
            in.write_operand(insn, 0, r.value);
        }
        in.cpu().rflags = r.merged_into(in.cpu().rflags);
    });
}

void cmpxchg(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    int size = insn.operands[0].size;
    uint64_t destination = in.read_operand(insn, 0);
    uint64_t source = in.read_operand(insn, 1);
    with_operand_width(size, [&]<typename T>(T) {
        T accumulator = static_cast<T>(cpu.gpr[RAX]);
        auto r = alu::cmp(accumulator, static_cast<T>(destination));
        if (accumulator == static_cast<T>(destination)) {
            in.write_operand(insn, 0, source);
        } else {
            if (insn.operands[0].kind == cpu::OperandKind::Memory) {
                in.write_operand(insn, 0, destination);
            }
            write_gpr(cpu, RAX, size, destination);
        }
        cpu.rflags = r.merged_into(cpu.rflags);
    });
}

void cmpxchg_double(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    constexpr uint64_t kZf = 1ULL << 6;
    uint64_t address = in.linear_address(insn);
    if (insn.rex_w()) {
        // CMPXCHG16B: a 16-byte aligned operand, RDX:RAX against it.
        if (address & 15) {
            throw GuestFault::gp(0);
        }
        uint64_t old[2];
        in.memory().read_bytes(address, std::span(reinterpret_cast<uint8_t*>(old), 16),
                               in.user_mode, in.read_access);
        bool equal = old[0] == cpu.gpr[RAX] && old[1] == cpu.gpr[RDX];
        uint64_t next[2] = {equal ? cpu.gpr[RBX] : old[0], equal ? cpu.gpr[RCX] : old[1]};
        in.memory().write_bytes(address, std::span(reinterpret_cast<const uint8_t*>(next), 16),
                                in.user_mode);
        if (!equal) {
            cpu.gpr[RAX] = old[0];
            cpu.gpr[RDX] = old[1];
        }
        cpu.rflags = equal ? cpu.rflags | kZf : cpu.rflags & ~kZf;
        return;
    }
    uint64_t old = in.read_memory(address, 8);
    uint64_t expected = ((cpu.gpr[RDX] & 0xffffffffULL) << 32) | (cpu.gpr[RAX] & 0xffffffffULL);
    bool equal = old == expected;
    uint64_t replacement = ((cpu.gpr[RCX] & 0xffffffffULL) << 32) | (cpu.gpr[RBX] & 0xffffffffULL);
    in.write_memory(address, 8, equal ? replacement : old);
    if (!equal) {
        cpu.gpr[RAX] = old & 0xffffffffULL;
        cpu.gpr[RDX] = old >> 32;
    }
    cpu.rflags = equal ? cpu.rflags | kZf : cpu.rflags & ~kZf;
}

} // namespace

void register_exchange_handlers(HandlerTable& t) {
    t.set(OpcodeId::XADD_EbGb, xadd);
    t.set(OpcodeId::XADD_EvGv, xadd);
    t.set(OpcodeId::CMPXCHG_EbGb, cmpxchg);
    t.set(OpcodeId::CMPXCHG_EvGv, cmpxchg);
    t.set(OpcodeId::CMPXCHG8B_Mq, cmpxchg_double);
}

} // namespace krr
