// MMX and the SSE integer instructions on MMX registers. They run on the
// host like SSE (fpu_state.h), which also gives the x87 side effects of MMX
// for free: any MMX instruction sets TOP to 0 and tags every register
// valid, EMMS tags them all empty. What the host copy cannot show is the
// x87 state at a fault on guest memory, taken here before the host runs:
// silicon has set TOP to 0 before an MMX store faults (MASKMOVQ has also
// tagged every register valid), while a faulting load leaves the x87 state
// alone. MASKMOVQ stores through RDI, which the host copy cannot be pointed
// at, so it is written out here.
#include "replay-engine/interpreter/fpu_state.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/interpreter/masked_store.h"
#include "replay-engine/mmu/guest_fault.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

// The MMX register file is the x87 physical registers R0..R7; FpuState
// keeps them as ST0..ST7 relative to TOP, and the tags per physical
// register. With TOP at 0 every register keeps its contents and its tag.
void set_top_to_zero(FpuState& fpu) {
    unsigned top = (fpu.fsw >> 11) & 7;
    auto st = fpu.st;
    for (unsigned i = 0; i < 8; ++i) {
        fpu.st[i] = st[(i - top) & 7];
    }
    fpu.fsw = static_cast<uint16_t>(fpu.fsw & ~(7u << 11));
}

void enter_mmx_mode(FpuState& fpu) {
    set_top_to_zero(fpu);
    fpu.ftw = 0xff;
}

void mmx(Interpreter& in, const DecodedInstruction& insn) {
    require_mmx(in.cpu());
    if (memory_operand(insn, false).written) {
        set_top_to_zero(in.cpu().fpu);
    }
    execute_on_host(in, insn, {});
}

// PUNPCKLBW, PUNPCKLWD and PUNPCKLDQ mm, mm/m32 read only the low half of
// a memory source, so 4 bytes must be readable, not the 8 of the register
// width the opcode table gives them.
void mmx_unpack_low(Interpreter& in, const DecodedInstruction& insn) {
    require_mmx(in.cpu());
    execute_on_host(in, insn, {.memory_size = 4});
}

void maskmovq(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    require_mmx(cpu);
    enter_mmx_mode(cpu.fpu);
    const auto data = cpu.fpu.st[insn.operands[0].reg & 7];
    const auto mask = cpu.fpu.st[insn.operands[1].reg & 7];
    store_masked_bytes(in, insn, std::span(data).first(8), std::span(mask).first(8));
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
    for (OpcodeId id :
         {OpcodeId::PUNPCKLBW_PqQq, OpcodeId::PUNPCKLWD_PqQq, OpcodeId::PUNPCKLDQ_PqQq}) {
        t.set(id, mmx_unpack_low);
    }
    t.set(OpcodeId::MASKMOVQ_PqNq, maskmovq);
}

} // namespace krr
