// MMX and the SSE integer instructions on MMX registers. They run on the
// host like SSE (fpu_state.h), which also gives the x87 side effects of MMX
// for free: any MMX instruction sets TOP to 0 and tags every register
// valid, EMMS tags them all empty. MASKMOVQ stores through RDI, which the
// host copy cannot be pointed at, so it is written out here.
#include "replay-engine/interpreter/fpu_state.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/mmu/guest_fault.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

void mmx(Interpreter& in, const DecodedInstruction& insn) {
    require_mmx(in.cpu());
    execute_on_host(in, insn, {});
}

// The MMX register file is the x87 physical registers R0..R7; FpuState
// keeps them as ST0..ST7 relative to TOP.
void enter_mmx_mode(FpuState& fpu) {
    unsigned top = (fpu.fsw >> 11) & 7;
    auto st = fpu.st;
    for (unsigned i = 0; i < 8; ++i) {
        fpu.st[i] = st[(i - top) & 7];
    }
    fpu.fsw = static_cast<uint16_t>(fpu.fsw & ~(7u << 11));
    fpu.ftw = 0xff;
}

void maskmovq(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    require_mmx(cpu);
    FpuState fpu = cpu.fpu;
    enter_mmx_mode(fpu);
    const auto& data = fpu.st[insn.operands[0].reg & 7];
    const auto& mask = fpu.st[insn.operands[1].reg & 7];
    uint64_t address = cpu.gpr[RDI];
    if (insn.address_size == 32) {
        address &= 0xffffffffULL;
    }
    int8_t seg = insn.prefixes.segment;
    if (seg == FS || seg == GS) {
        address += cpu.seg[seg].base;
    }
    for (size_t i = 0; i < 8; ++i) {
        if (mask[i] & 0x80) {
            in.write_memory(address + i, 1, data[i]);
        }
    }
    cpu.fpu = fpu;
}

bool is_mmx(const cpu::OpcodeRow& row) {
    return row.family == cpu::InstructionFamily::Mmx &&
           (row.feature == cpu::CpuFeature::MMX || row.feature == cpu::CpuFeature::SSE ||
            row.feature == cpu::CpuFeature::SSE2);
}

} // namespace

void register_mmx_handlers(HandlerTable& t) {
    for (int i = 0; i < cpu::kOpcodeCount; ++i) {
        auto id = static_cast<OpcodeId>(i);
        if (is_mmx(cpu::opcode_row(id))) {
            t.set(id, mmx);
        }
    }
    t.set(OpcodeId::MASKMOVQ_PqNq, maskmovq);
}

} // namespace krr
