// Delivering exceptions and interrupts through the long-mode IDT (Intel SDM
// vol. 3, 6.14): gate checks, the privilege-level stack switch from the TSS,
// the IST, the 16-byte-aligned frame, and the escalation of a fault during
// delivery to #DF and then to a triple fault (shutdown).
#pragma once

#include "guest-model/machine_state.h"
#include "replay-engine/mmu/linear_memory.h"

#include <cstdint>

namespace krr {

enum class EventKind : uint8_t {
    Exception,         // a fault or trap raised by the CPU
    ExternalInterrupt, // from the local APIC
    Nmi,
    SoftwareInterrupt, // INT n: the gate's DPL is checked against CPL
    SoftwareException, // INT3, INTO: likewise
};

struct Event {
    uint8_t vector = 0;
    EventKind kind = EventKind::Exception;
    bool has_error_code = false;
    uint32_t error_code = 0;
    uint64_t cr2 = 0; // for #PF
    // An interrupt or NMI taken after an iteration of a REP string
    // instruction that has iterations left (cpu.rip is that instruction).
    bool between_string_iterations = false;
};

enum class DeliveryOutcome : uint8_t { Delivered, TripleFault };

// Deliver `event` with cpu.rip as the return address (the faulting
// instruction for faults, the next one for traps and software interrupts).
// The RFLAGS image has RF = 1 for a fault and for an interrupt between
// string iterations, so the instruction resumes without matching an
// instruction breakpoint again; traps, aborts and other interrupts push RF
// as it is (Intel SDM vol. 3, "Instruction-Breakpoint Exception Condition").
// On a triple fault the state is left as it was when the last fault hit; the
// machine then resets or stops.
DeliveryOutcome deliver_event(CpuState& cpu, LinearMemory& memory, const Event& event);

// Deliver without escalation: a fault during delivery is thrown to the
// caller. INT n, INT3 and INT1 use this, because a fault while delivering
// them is a fault of the instruction itself (reported at its RIP).
void deliver_event_or_fault(CpuState& cpu, LinearMemory& memory, const Event& event);

Event exception_event(const GuestFault& fault);

} // namespace krr
