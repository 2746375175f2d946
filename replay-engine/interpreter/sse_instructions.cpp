// SSE and SSE2: every XMM instruction of the masked CPU. The arithmetic,
// conversions, compares and the integer operations all run on the host's
// own SSE unit (fpu_state.h says why); what is left here is the
// architectural gatekeeping around them (CR0/CR4, alignment, MXCSR
// exceptions) and the few instructions that touch state the host must not
// see: LDMXCSR, STMXCSR and MASKMOVDQU's implicit store through RDI.
#include "replay-engine/interpreter/fpu_state.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/interpreter/masked_store.h"
#include "replay-engine/mmu/guest_fault.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

bool has_mmx_operand(const DecodedInstruction& insn) {
    for (int i = 0; i < insn.operand_count; ++i) {
        if (insn.operands[static_cast<size_t>(i)].kind == cpu::OperandKind::Mmx) {
            return true;
        }
    }
    return false;
}

// Whether the instruction can run on the XMM file alone. The forms with an
// MMX register switch the x87 unit to MMX mode and first report a pending
// x87 exception.
bool check(Interpreter& in, const DecodedInstruction& insn) {
    require_sse(in.cpu());
    if (!has_mmx_operand(insn)) {
        return true;
    }
    if (in.cpu().fpu.fsw & kFswErrorSummary) {
        throw GuestFault{kX87Error, false, 0, 0};
    }
    return false;
}

// Legacy SSE insists on 16-byte alignment for every 128-bit memory operand,
// except in the explicitly unaligned moves.
void sse_aligned(Interpreter& in, const DecodedInstruction& insn) {
    bool xmm_only = check(in, insn);
    execute_on_host(in, insn, {.sse_exceptions = true, .aligned = true, .xmm_only = xmm_only});
}

void sse_unaligned(Interpreter& in, const DecodedInstruction& insn) {
    bool xmm_only = check(in, insn);
    execute_on_host(in, insn, {.sse_exceptions = true, .aligned = false, .xmm_only = xmm_only});
}

void sse_compare_into_flags(Interpreter& in, const DecodedInstruction& insn) {
    bool xmm_only = check(in, insn);
    execute_on_host(in, insn, {.sse_exceptions = true, .writes_flags = true, .xmm_only = xmm_only});
}

void ldmxcsr(Interpreter& in, const DecodedInstruction& insn) {
    require_sse(in.cpu());
    uint32_t value = static_cast<uint32_t>(in.read_memory(in.linear_address(insn), 4));
    if (value & ~mxcsr_mask()) {
        throw GuestFault::gp(0);
    }
    in.cpu().fpu.mxcsr = value;
}

void stmxcsr(Interpreter& in, const DecodedInstruction& insn) {
    require_sse(in.cpu());
    in.write_memory(in.linear_address(insn), 4, in.cpu().fpu.mxcsr);
}

// MASKMOVDQU xmm1, xmm2: the bytes of xmm1 whose mask byte in xmm2 has its
// top bit set go to DS:rDI.
void maskmovdqu(Interpreter& in, const DecodedInstruction& insn) {
    require_sse(in.cpu());
    const FpuState& fpu = in.cpu().fpu;
    store_masked_bytes(in, insn, fpu.xmm[insn.operands[0].reg], fpu.xmm[insn.operands[1].reg]);
}

bool is_sse_or_sse2(const cpu::OpcodeRow& row) {
    return row.family == cpu::InstructionFamily::Sse &&
           (row.feature == cpu::CpuFeature::SSE || row.feature == cpu::CpuFeature::SSE2);
}

} // namespace

void register_sse_handlers(HandlerTable& t) {
    for (int i = 0; i < cpu::kOpcodeCount; ++i) {
        auto id = static_cast<OpcodeId>(i);
        if (is_sse_or_sse2(cpu::opcode_row(id))) {
            t.set(id, sse_aligned);
        }
    }
    for (OpcodeId id : {OpcodeId::MOVUPS_VxWx, OpcodeId::MOVUPS_WxVx, OpcodeId::MOVUPD_VxWx,
                        OpcodeId::MOVUPD_WxVx, OpcodeId::MOVDQU_VxWx, OpcodeId::MOVDQU_WxVx}) {
        t.set(id, sse_unaligned);
    }
    for (OpcodeId id : {OpcodeId::COMISS_VxWss, OpcodeId::UCOMISS_VxWss, OpcodeId::COMISD_VxWsd,
                        OpcodeId::UCOMISD_VxWsd}) {
        t.set(id, sse_compare_into_flags);
    }
    t.set(OpcodeId::LDMXCSR_M, ldmxcsr);
    t.set(OpcodeId::STMXCSR_M, stmxcsr);
    t.set(OpcodeId::MASKMOVDQU_VxUx, maskmovdqu);
}

} // namespace krr
