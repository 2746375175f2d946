// krr's x86-64 CPU: executes a vCPU's instructions one at a time from its
// architectural state, through the decoded-code cache, LinearMemory and the
// machine's CpuEnvironment. The recorder uses it as an accelerator; replay
// uses it to re-execute a recording.
//
// Counting. `instructions_retired` grows by one for every instruction that
// completes, and for every iteration of a REP-prefixed string instruction
// (each iteration is a point where an interrupt may be taken, so it must be
// a position). A faulting instruction does not retire; delivering the fault
// does not count. INT n, INT3, SYSCALL retire, then transfer control.
// Interrupts are delivered between instructions, never inside one.
#pragma once

#include "guest-model/cpuid_table.h"
#include "guest-model/machine_state.h"
#include "replay-engine/cpu/decoded_instruction.h"
#include "replay-engine/interpreter/cpu_environment.h"
#include "replay-engine/interpreter/decoded_code_cache.h"
#include "replay-engine/mmu/linear_memory.h"

#include <cstdint>
#include <string>
#include <vector>

namespace krr {

enum class StopReason : uint8_t {
    ReachedTarget, // instructions_retired == target
    Halted,        // HLT: waiting for an interrupt (cpu.events.halted is set)
    TripleFault,   // the machine must reset or stop
    Unimplemented, // an instruction or mode the emulator cannot execute: see error()
    ExitRequested, // request_stop(ExitRequested), after the current instruction completes
    Breakpoint,    // about to execute an instruction at a breakpoint address (RunControl)
    Watchpoint,    // an access touched a watched range: memory().take_watch_hit()
    Delivered,     // RunControl::stop_after_deliveries exceptions were delivered
};

// What a debugger asks of one run() besides its target. Breakpoints are
// checked before each instruction, except the first one of the run when
// `skip_breakpoint_at_start` (continuing from a breakpoint) and the further
// iterations of a REP string instruction (one stop per instruction, as with
// the CPU's RF flag). Watched ranges live in LinearMemory; a hit stops the
// run after the instruction (or the exception delivery) that made it.
struct RunControl {
    const std::vector<uint64_t>* breakpoints = nullptr; // sorted; null: none
    bool watching = false;
    bool skip_breakpoint_at_start = false;
    // When set, a breakpoint stops only where the general registers equal
    // these (a search for a known state, without a stop at every pass).
    const std::array<uint64_t, kGprCount>* breakpoint_registers = nullptr;
    // Stop right after this many exceptions have been delivered since the
    // last instruction retired (a position inside one instruction count).
    uint32_t stop_after_deliveries = UINT32_MAX;
};

const char* stop_reason_name(StopReason reason);

class Interpreter;
using InstructionHandler = void (*)(Interpreter&, const cpu::DecodedInstruction&);

class Interpreter {
public:
    Interpreter(VcpuState& vcpu, GuestMemory& ram, CpuEnvironment& environment,
                const CpuidTable& cpuid);
    Interpreter(const Interpreter&) = delete;
    Interpreter& operator=(const Interpreter&) = delete;

    // Execute until `target` instructions have retired or something stops
    // the CPU first.
    StopReason run(uint64_t target);
    StopReason run(uint64_t target, const RunControl& control);

    // Exceptions delivered since the last instruction retired: a faulting
    // instruction does not retire, so the exception handler's first
    // instruction shares the faulting one's count and is told apart by this.
    uint32_t deliveries_since_retire() const { return deliveries_since_retire_; }
    // The RIP of the last instruction retired when it was an iteration of a
    // REP string instruction with more to come, for telling its next
    // iteration from a fresh arrival at a breakpoint; otherwise kNoRip.
    static constexpr uint64_t kNoRip = ~0ULL;
    uint64_t last_retired_rip() const { return last_retired_rip_; }
    void set_position_detail(uint32_t deliveries, uint64_t last_retired_rip) {
        deliveries_since_retire_ = deliveries;
        last_retired_rip_ = last_retired_rip;
    }

    // Whether an external interrupt can be taken now (RFLAGS.IF and no
    // interrupt shadow), and taking one: delivered through the IDT with the
    // current RIP as return address; wakes a halted CPU.
    bool interrupts_enabled() const;
    void deliver_external_interrupt(uint8_t vector);
    void deliver_nmi();

    // After the vCPU and these guest-physical pages were changed from outside
    // (a checkpoint restored): re-read the control registers into the MMU
    // and drop decoded code on those pages; decoded code elsewhere stays
    // valid. The TLB is left alone: the caller restores the one that goes
    // with the new state (LinearMemory::restore_tlb).
    void pages_changed_externally(const std::vector<uint64_t>& physical_pages);

    // Execute another vCPU of the same machine from now on (vCPUs run one
    // at a time). Its control registers go to the MMU and the TLB is
    // flushed: translations are not kept across a switch, on record and
    // replay alike. Decoded code stays valid (memory is shared). The
    // position detail is the one `next` had when it last stopped.
    void switch_vcpu(VcpuState& next, uint32_t deliveries, uint64_t last_retired_rip);

    VcpuState& vcpu() { return *vcpu_; }
    CpuState& cpu() { return vcpu_->cpu; }
    LinearMemory& memory() { return memory_; }
    CpuEnvironment& environment() { return environment_; }
    const CpuidTable& cpuid() const { return cpuid_; }
    const std::string& error() const { return error_; }

    // --- for instruction handlers ---
    // The RIP execution continues at; handlers that branch set it.
    uint64_t next_rip = 0;
    // Memory accesses of the current instruction are user accesses (CPL 3).
    bool user_mode = false;
    // Replaying a recording made on PVM, whose guest kernel mode runs in
    // KVM's instruction emulator: that executes ROL/ROR by an immediate as
    // the CPU does the CL form, writing OF (the CPU leaves it for an
    // immediate count other than one). At CPL 0 krr then does the same.
    bool kernel_rotates_write_overflow = false;
    // Access::Write while the current instruction reads a destination it
    // will write (a lockable instruction or a shift/rotate of memory): the
    // CPU checks such a read as a write, so a fault on it has W set in its
    // page-fault error code and a read-only page faults before the read.
    Access read_access = Access::Read;

    uint64_t effective_address(const cpu::DecodedInstruction& insn) const;
    // Linear address = effective address + FS/GS base when overridden.
    uint64_t linear_address(const cpu::DecodedInstruction& insn) const;
    uint64_t read_operand(const cpu::DecodedInstruction& insn, int index);
    void write_operand(const cpu::DecodedInstruction& insn, int index, uint64_t value);
    uint64_t read_memory(uint64_t linear, int size);
    void write_memory(uint64_t linear, int size, uint64_t value);
    // The stack through SS: 64-bit RSP in 64-bit mode; outside it SP or ESP
    // (SS.B) added to SS's base.
    void push(uint64_t value, int size);
    uint64_t pop(int size);
    // Drop `bytes` from the stack without reading them (RET imm16).
    void release_stack(uint64_t bytes);
    // The mode the current instruction was decoded in.
    cpu::CpuMode mode() const { return mode_; }
    unsigned cpl() const { return vcpu_->cpu.seg[CS].selector & 3; }
    // Stop the run loop after this instruction (HLT, an unimplemented path).
    void request_stop(StopReason reason, std::string message = {});
    // Decoded code on this physical page is stale.
    void invalidate_code_page(uint64_t physical_page);

private:
    const CachedInstruction* fetch_and_decode(uint64_t* physical_out);
    InstructionHandler resolve_handler(const cpu::DecodedInstruction& insn) const;
    void deliver(const struct GuestFault& fault);
    // An iteration of a REP string instruction retired with more to come.
    bool between_string_iterations() const;
    bool refuse_legacy_event(const char* what, unsigned vector);
    template <bool kDebug>
    StopReason run_loop(uint64_t target, const RunControl& control);

    VcpuState* vcpu_;
    LinearMemory memory_;
    CpuEnvironment& environment_;
    const CpuidTable& cpuid_;
    DecodedCodeCache code_cache_;
    CachedInstruction scratch_; // page-crossing instructions are not cached
    bool stop_requested_ = false;
    StopReason stop_reason_ = StopReason::ReachedTarget;
    std::string error_;
    uint32_t deliveries_since_retire_ = 0;
    uint64_t last_retired_rip_ = kNoRip;
    cpu::CpuMode mode_ = cpu::CpuMode::Bits64;
};

// Read or write a general register with x86 partial-register rules: 32-bit
// writes zero the upper half, 8- and 16-bit writes merge.
inline uint64_t read_gpr(const CpuState& cpu, uint8_t reg, int size) {
    uint64_t v = cpu.gpr[reg];
    switch (size) {
    case 1:
        return v & 0xff;
    case 2:
        return v & 0xffff;
    case 4:
        return v & 0xffffffffULL;
    default:
        return v;
    }
}

inline void write_gpr(CpuState& cpu, uint8_t reg, int size, uint64_t value) {
    uint64_t& r = cpu.gpr[reg];
    switch (size) {
    case 1:
        r = (r & ~0xffULL) | (value & 0xff);
        break;
    case 2:
        r = (r & ~0xffffULL) | (value & 0xffff);
        break;
    case 4:
        r = value & 0xffffffffULL;
        break;
    default:
        r = value;
        break;
    }
}

inline uint64_t truncate_to(uint64_t value, int size) {
    return size >= 8 ? value : value & ((1ULL << (8 * size)) - 1);
}

inline uint64_t sign_extend_from(uint64_t value, int size) {
    int shift = 64 - 8 * size;
    return size >= 8 ? value : static_cast<uint64_t>(static_cast<int64_t>(value << shift) >> shift);
}

} // namespace krr
