// The x87 FPU, FXSAVE/FXRSTOR and FWAIT. Each x87 instruction runs on the
// host with the whole guest x87 state loaded (fpu_state.h), so TOP, the tag
// word, stack overflow and underflow, C0-C3, precision control and every
// result are the silicon's. An unmasked x87 exception is deferred, as the
// architecture does it: the instruction sets FSW.ES and B, and the next
// waiting x87 (or MMX) instruction raises #MF before it executes.
#include "replay-engine/interpreter/fpu_state.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/mmu/guest_fault.h"

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

constexpr uint64_t kCr0Mp = 1ULL << 1, kCr0Ts = 1ULL << 3;
constexpr size_t kFxsaveWritten = 416; // FXSAVE leaves bytes 416-511 alone

void x87_waiting(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), true);
    execute_on_host(in, insn, {});
}

void x87_waiting_store(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), true);
    execute_on_host(in, insn, {.x87_store = true});
}

void x87_compare_into_flags(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), true);
    execute_on_host(in, insn, {.writes_flags = true});
}

// FNINIT, FNCLEX, FNSTSW AX...: the non-waiting control instructions.
void x87_control(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), false);
    execute_on_host(in, insn, {});
}

void x87_control_store(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), false);
    execute_on_host(in, insn, {.x87_store = true});
}

// The environment is 28 bytes, or 14 with a 16-bit operand size: a 66
// prefix without REX.W (REX.W wins over 66, so 66 REX.W is the 28-byte
// form). FNSAVE and FRSTOR add the eight 10-byte registers. The host, which
// runs the same prefixes, lays the bytes out.
int environment_size(const DecodedInstruction& insn) {
    return insn.operand_size == 16 ? 14 : 28;
}

void fnstenv(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), false);
    execute_on_host(in, insn, {.x87_store = true, .memory_size = environment_size(insn)});
}

void fldenv(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), true);
    execute_on_host(in, insn, {.memory_size = environment_size(insn)});
}

void fnsave(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), false);
    execute_on_host(in, insn, {.x87_store = true, .memory_size = environment_size(insn) + 80});
}

void frstor(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), true);
    execute_on_host(in, insn, {.memory_size = environment_size(insn) + 80});
}

void fwait(Interpreter& in, const DecodedInstruction&) {
    const CpuState& cpu = in.cpu();
    if ((cpu.cr0 & (kCr0Mp | kCr0Ts)) == (kCr0Mp | kCr0Ts)) {
        throw GuestFault{kDeviceNotAvailable, false, 0, 0};
    }
    if (cpu.fpu.fsw & kFswErrorSummary) {
        throw GuestFault{kX87Error, false, 0, 0};
    }
}

// FXSAVE and FXRSTOR neither wait nor report pending exceptions. REX.W
// selects the layout with 64-bit FIP/FDP.
uint64_t fxsave_area(Interpreter& in, const DecodedInstruction& insn) {
    require_x87(in.cpu(), false);
    uint64_t linear = in.linear_address(insn);
    if (linear & 15) {
        throw GuestFault::gp(0);
    }
    return linear;
}

void fxsave(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t linear = fxsave_area(in, insn);
    FxsaveImage image{};
    // The CPU checks the whole 512-byte area but stores only bytes 0-415:
    // keep 416-511 by writing back what is there.
    in.memory().read_bytes(
        linear + kFxsaveWritten,
        std::span<uint8_t>(image.data() + kFxsaveWritten, kFxsaveSize - kFxsaveWritten),
        in.user_mode, Access::Write);
    store_fxsave_image(in.cpu().fpu, image, insn.rex_w());
    in.memory().write_bytes(linear, image, in.user_mode);
}

void fxrstor(Interpreter& in, const DecodedInstruction& insn) {
    uint64_t linear = fxsave_area(in, insn);
    FxsaveImage image{};
    in.memory().read_bytes(linear, image, in.user_mode);
    if (load_fxsave_image(image, insn.rex_w()).mxcsr & ~mxcsr_mask()) {
        throw GuestFault::gp(0);
    }
    in.cpu().fpu = restore_through_host(image, insn.rex_w());
}

bool is_x87(const cpu::OpcodeRow& row) {
    return row.family == cpu::InstructionFamily::Fpu && row.feature == cpu::CpuFeature::X87;
}

} // namespace

void register_x87_handlers(HandlerTable& t) {
    for (int i = 0; i < cpu::kOpcodeCount; ++i) {
        auto id = static_cast<OpcodeId>(i);
        if (is_x87(cpu::opcode_row(id))) {
            t.set(id, x87_waiting);
        }
    }
    for (OpcodeId id :
         {OpcodeId::FST_Md, OpcodeId::FSTP_Md, OpcodeId::FIST_Md_DB, OpcodeId::FISTP_Md_DB,
          OpcodeId::FSTP_Mt_DB, OpcodeId::FST_Mq_DD, OpcodeId::FSTP_Mq_DD, OpcodeId::FIST_Mw_DF,
          OpcodeId::FISTP_Mw_DF, OpcodeId::FBSTP_Mt_DF, OpcodeId::FISTP_Mq_DF}) {
        t.set(id, x87_waiting_store);
    }
    for (OpcodeId id : {OpcodeId::FCOMI_ST0STi, OpcodeId::FUCOMI_ST0STi, OpcodeId::FCOMIP_ST0STi,
                        OpcodeId::FUCOMIP_ST0STi}) {
        t.set(id, x87_compare_into_flags);
    }
    // The 8087's interrupt and protected-mode controls are no-ops that, like
    // every FN form, do not wait.
    for (OpcodeId id : {OpcodeId::FNENI, OpcodeId::FNDISI, OpcodeId::FNSETPM}) {
        t.set(id, x87_control);
    }
    t.set(OpcodeId::FNINIT, x87_control);
    t.set(OpcodeId::FNCLEX, x87_control);
    t.set(OpcodeId::FNSTSW_AX, x87_control);
    t.set(OpcodeId::FNSTSW_Mw_DD, x87_control_store);
    t.set(OpcodeId::FNSTCW_M, x87_control_store);
    t.set(OpcodeId::FNSTENV_M, fnstenv);
    t.set(OpcodeId::FLDENV_M, fldenv);
    t.set(OpcodeId::FNSAVE_M_DD, fnsave);
    t.set(OpcodeId::FRSTOR_M_DD, frstor);
    t.set(OpcodeId::FWAIT, fwait);
    t.set(OpcodeId::FXSAVE_M, fxsave);
    t.set(OpcodeId::FXRSTOR_M, fxrstor);
}

} // namespace krr
