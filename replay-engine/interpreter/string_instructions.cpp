// MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS, with and without REP/REPE/REPNE.
// A repeated string instruction executes one iteration per retired
// instruction (see interpreter.h), re-executing itself until RCX runs out or
// its condition ends it, so interrupts and faults find RCX/RSI/RDI with the
// progress made so far, exactly as on hardware.
#include "replay-engine/alu/alu.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/interpreter/io_permission.h"
#include "replay-engine/interpreter/operand_width.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

constexpr uint64_t kDf = 1ULL << 10, kZf = 1ULL << 6;

enum class StringOp { Movs, Cmps, Stos, Lods, Scas, Ins, Outs };

uint64_t address_mask(const DecodedInstruction& insn) {
    return insn.address_size == 32 ? 0xffffffffULL : ~0ULL;
}

// DS:rSI with a possible FS/GS override.
uint64_t source_address(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t address = in.cpu().gpr[RSI] & address_mask(insn);
    int8_t seg = insn.prefixes.segment;
    if (seg == FS || seg == GS) {
        address += in.cpu().seg[seg].base;
    }
    return address;
}

uint64_t destination_address(Interpreter& in, const DecodedInstruction& insn) {
    return in.cpu().gpr[RDI] & address_mask(insn);
}

void advance(CpuState& cpu, const DecodedInstruction& insn, uint8_t reg, int size) {
    uint64_t step = static_cast<uint64_t>(size);
    uint64_t value = (cpu.rflags & kDf) ? cpu.gpr[reg] - step : cpu.gpr[reg] + step;
    write_gpr(cpu, reg, insn.address_size / 8, value);
}

int element_size(const DecodedInstruction& insn, StringOp op) {
    // The accumulator or memory operand carries the element size.
    for (const cpu::Operand& o : insn.operands) {
        if (o.size) {
            return o.size;
        }
    }
    return op == StringOp::Ins || op == StringOp::Outs ? 1 : insn.operand_size / 8;
}

template <StringOp kOp>
void string_instruction(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    const bool repeated = insn.repeats() || insn.repeats_while_not_equal();
    const uint64_t count_mask = address_mask(insn);
    if (kOp == StringOp::Ins || kOp == StringOp::Outs) {
        check_io_permission(in, static_cast<uint16_t>(cpu.gpr[RDX]), element_size(insn, kOp));
    }
    if (repeated && (cpu.gpr[RCX] & count_mask) == 0) {
        // Nothing to do, but with 67 Intel CPUs still write ECX, and MOVS and
        // STOS their pointers, at the address size, clearing the upper
        // halves (measured; LODS, CMPS and SCAS leave RSI and RDI alone).
        auto rewrite = [&](uint8_t reg) {
            write_gpr(cpu, reg, insn.address_size / 8, cpu.gpr[reg]);
        };
        rewrite(RCX);
        if (kOp == StringOp::Movs) {
            rewrite(RSI);
        }
        if (kOp == StringOp::Movs || kOp == StringOp::Stos) {
            rewrite(RDI);
        }
        return;
    }
    const int size = element_size(insn, kOp);
    bool compare_result_equal = false;
    switch (kOp) {
    case StringOp::Movs: {
        uint64_t v = in.read_memory(source_address(in, insn), size);
        in.write_memory(destination_address(in, insn), size, v);
        advance(cpu, insn, RSI, size);
        advance(cpu, insn, RDI, size);
        break;
    }
    case StringOp::Stos:
        in.write_memory(destination_address(in, insn), size, cpu.gpr[RAX]);
        advance(cpu, insn, RDI, size);
        break;
    case StringOp::Lods:
        write_gpr(cpu, RAX, size, in.read_memory(source_address(in, insn), size));
        advance(cpu, insn, RSI, size);
        break;
    case StringOp::Cmps:
    case StringOp::Scas: {
        uint64_t a, b;
        if (kOp == StringOp::Cmps) {
            a = in.read_memory(source_address(in, insn), size);
            b = in.read_memory(destination_address(in, insn), size);
        } else {
            a = cpu.gpr[RAX];
            b = in.read_memory(destination_address(in, insn), size);
        }
        with_operand_width(size, [&]<typename T>(T) {
            auto r = alu::cmp(static_cast<T>(a), static_cast<T>(b));
            cpu.rflags = r.merged_into(cpu.rflags);
        });
        compare_result_equal = (cpu.rflags & kZf) != 0;
        if (kOp == StringOp::Cmps) {
            advance(cpu, insn, RSI, size);
        }
        advance(cpu, insn, RDI, size);
        break;
    }
    case StringOp::Ins: {
        uint16_t port = static_cast<uint16_t>(cpu.gpr[RDX]);
        // The destination must be writable before the port is read.
        (void)in.memory().translate(destination_address(in, insn), Access::Write, in.user_mode);
        uint64_t v = in.environment().io_read(port, size);
        in.write_memory(destination_address(in, insn), size, v);
        advance(cpu, insn, RDI, size);
        break;
    }
    case StringOp::Outs: {
        uint16_t port = static_cast<uint16_t>(cpu.gpr[RDX]);
        uint64_t v = in.read_memory(source_address(in, insn), size);
        in.environment().io_write(port, size, v);
        advance(cpu, insn, RSI, size);
        break;
    }
    }
    if (!repeated) {
        return;
    }
    uint64_t remaining = (cpu.gpr[RCX] - 1) & count_mask;
    write_gpr(cpu, RCX, insn.address_size / 8, remaining);
    bool again = remaining != 0;
    if (kOp == StringOp::Cmps || kOp == StringOp::Scas) {
        // REPE stops on a difference, REPNE on a match.
        again = again && (insn.prefixes.repne ? !compare_result_equal : compare_result_equal);
    }
    if (again) {
        in.next_rip = cpu.rip; // run this instruction again
    }
}

} // namespace

void register_string_handlers(HandlerTable& t) {
    using O = OpcodeId;
    t.set(O::MOVS_YbXb, string_instruction<StringOp::Movs>);
    t.set(O::MOVS_YvXv, string_instruction<StringOp::Movs>);
    t.set(O::CMPS_XbYb, string_instruction<StringOp::Cmps>);
    t.set(O::CMPS_XvYv, string_instruction<StringOp::Cmps>);
    t.set(O::STOS_YbAL, string_instruction<StringOp::Stos>);
    t.set(O::STOS_YvrAX, string_instruction<StringOp::Stos>);
    t.set(O::LODS_ALXb, string_instruction<StringOp::Lods>);
    t.set(O::LODS_rAXXv, string_instruction<StringOp::Lods>);
    t.set(O::SCAS_ALYb, string_instruction<StringOp::Scas>);
    t.set(O::SCAS_rAXYv, string_instruction<StringOp::Scas>);
    t.set(O::INS_YbDX, string_instruction<StringOp::Ins>);
    t.set(O::INS_YzDX, string_instruction<StringOp::Ins>);
    t.set(O::OUTS_DXXb, string_instruction<StringOp::Outs>);
    t.set(O::OUTS_DXXz, string_instruction<StringOp::Outs>);
}

} // namespace krr
