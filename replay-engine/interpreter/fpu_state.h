// The guest's x87/MMX/SSE state as the 512-byte FXSAVE image, the checks
// that gate every floating-point and SIMD instruction (CR0.EM/TS, CR4.OSFXSR,
// a pending x87 exception), and running one guest instruction on the host's
// own FPU/SSE unit.
//
// Why the host: krr runs only on x86-64, and the silicon's answers for
// rounding, NaN propagation, denormals, the exception flags and the x87
// stack rules are the ones a recording made under KVM saw. Executing the
// guest's instruction itself, with the guest's registers loaded by FXRSTOR
// and saved back by FXSAVE, reproduces them bit for bit without a software
// model that could disagree in a corner.
#pragma once

#include "guest-model/machine_state.h"
#include "replay-engine/cpu/decoded_instruction.h"

#include <array>
#include <cstdint>
#include <span>

namespace krr {

class Interpreter;

inline constexpr size_t kFxsaveSize = 512;
using FxsaveImage = std::array<uint8_t, kFxsaveSize>;

// MXCSR: exception flags (IE DE ZE OE UE PE), their masks (flags << 7).
inline constexpr uint32_t kMxcsrFlags = 0x3f;
inline constexpr uint32_t kMxcsrMasks = 0x1f80;
// x87 status word: ES (an unmasked exception is pending) and B (busy).
inline constexpr uint16_t kFswErrorSummary = 0x80;
inline constexpr uint16_t kFswBusy = 0x8000;

// The FXSAVE image of `fpu`: the 64-bit layout (FXSAVE64, REX.W) holds
// 64-bit FIP/FDP; the 32-bit layout holds 32-bit offsets and zero selectors
// (this CPU deprecates FCS/FDS). Bytes 464-511 are left as they are.
void store_fxsave_image(const FpuState& fpu, std::span<uint8_t, kFxsaveSize> image, bool wide);
// The state an image describes (MXCSR is taken as is: check it first).
FpuState load_fxsave_image(std::span<const uint8_t, kFxsaveSize> image, bool wide);

// The state FXRSTOR of `image` leaves (MXCSR already checked): the host
// itself loads and saves it, so the normalisation the CPU applies (FCW's
// fixed bits, FSW.ES and B recomputed from the unmasked flags) is exact.
FpuState restore_through_host(std::span<const uint8_t, kFxsaveSize> image, bool wide);

// The MXCSR bits this CPU implements (FXSAVE's MXCSR_MASK): the host's.
uint32_t mxcsr_mask();

// #UD unless SSE may run (CR0.EM clear, CR4.OSFXSR set), then #NM if
// CR0.TS is set.
void require_sse(const CpuState& cpu);
// MMX: #UD if CR0.EM, #NM if CR0.TS, then #MF if an x87 exception is pending.
void require_mmx(const CpuState& cpu);
// x87: #NM if CR0.EM or CR0.TS; for a waiting instruction, #MF if an x87
// exception is pending (FSW.ES).
void require_x87(const CpuState& cpu, bool waiting);

// One instruction to run on the host, with everything it touches besides
// the FPU/SSE registers staged in plain memory.
struct HostOperation {
    // Left uninitialised: filled before use, and an instruction runs often.
    FxsaveImage image;                           // in: the state to run under; out: after
    uint64_t rax = 0;                            // the GPR operand (re-encoded as RAX), in and out
    uint64_t rflags = 0;                         // out: the host RFLAGS after the instruction
    alignas(16) std::array<uint8_t, 512> memory; // the memory operand, in and out
    uint32_t mxcsr = 0;       // the XMM-only form: MXCSR to run under, then after
    uint32_t host_mxcsr = 0;  // the XMM-only form: the host's, kept while it runs
    bool fip_updated = false; // out: the instruction set FIP (x87 non-control)
    bool fdp_updated = false; // out: ... and FDP (its memory operand)
};

// Execute `insn` on the host: its XMM/MMX/ST/GPR operands are renumbered
// onto the staged state and a memory operand onto `op.memory`. The caller
// makes sure it cannot fault on the host (checks done, SSE exceptions
// masked in op.image, no x87 exception pending at a waiting instruction).
void run_on_host(const cpu::DecodedInstruction& insn, HostOperation& op);

// The memory operand of `insn`, if any: its index, byte size, and whether
// the instruction writes it (else it is read).
struct MemoryOperand {
    int index = -1;
    int size = 0;
    bool written = false;
};
MemoryOperand memory_operand(const cpu::DecodedInstruction& insn, bool x87_store);

// The whole of one host-executed instruction, as SSE, MMX and x87 handlers
// share it: read the memory operand, run on the host, apply the guest's
// exception masks, write memory, then commit registers (a fault at any step
// leaves the guest state as it was).
struct HostExecution {
    // SSE arithmetic: run with every MXCSR exception masked, then raise #XM
    // (or #UD without CR4.OSXMMEXCPT) for what the guest left unmasked.
    bool sse_exceptions = false;
    // A 16-byte memory operand must be 16-byte aligned (#GP(0)).
    bool aligned = false;
    // The x87 memory operand is a destination.
    bool x87_store = false;
    // The instruction sets ZF, PF, CF and clears OF, SF, AF (COMISS, FCOMI).
    bool writes_flags = false;
    // The instruction touches only XMM registers, MXCSR, a GPR and memory
    // (no MMX or x87 operand): run it on the guest's XMM file directly with
    // MXCSR swapped, instead of swapping the whole FXSAVE state.
    bool xmm_only = false;
    // The memory operand's size when the row leaves it to the instruction
    // (FNSTENV, FNSAVE and their loads) or reads less than its register
    // width (the MMX PUNPCKL forms); 0 takes the decoder's.
    int memory_size = 0;
};
void execute_on_host(Interpreter& in, const cpu::DecodedInstruction& insn,
                     const HostExecution& how);

} // namespace krr
