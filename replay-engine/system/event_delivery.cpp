#include "replay-engine/system/event_delivery.h"

#include "replay-engine/system/descriptor_tables.h"

namespace krr {

namespace {

constexpr uint64_t kIf = 1ULL << 9, kTf = 1ULL << 8, kNt = 1ULL << 14, kRf = 1ULL << 16,
                   kVm = 1ULL << 17;

enum class FaultClass { Benign, Contributory, PageFault, DoubleFault };

FaultClass classify(uint8_t vector) {
    switch (vector) {
    case kDivideError:
    case kInvalidTss:
    case kSegmentNotPresent:
    case kStackFault:
    case kGeneralProtection:
        return FaultClass::Contributory;
    case kPageFault:
        return FaultClass::PageFault;
    case kDoubleFault:
        return FaultClass::DoubleFault;
    default:
        return FaultClass::Benign;
    }
}

// The exception classes of the SDM (vol. 3, table 6-1) as far as the RFLAGS
// image depends on them.
enum class ExceptionClass { Fault, Trap, Abort };

ExceptionClass exception_class(uint8_t vector) {
    switch (vector) {
    case kDebug:
        // #DB is raised here only as a trap (INT1). The one #DB that is a
        // fault with RF left as it is, an instruction breakpoint, is taken
        // only while RF is 0, so "as it is" covers it too.
    case kBreakpoint:
    case kOverflow:
        return ExceptionClass::Trap;
    case kDoubleFault:
    case kMachineCheck:
        return ExceptionClass::Abort;
    default:
        return ExceptionClass::Fault;
    }
}

// The RFLAGS pushed in the frame (Intel SDM vol. 3, "Instruction-Breakpoint
// Exception Condition"): RF = 1 for a fault, so that the faulting
// instruction, restarted by IRET, does not stop at an instruction breakpoint
// again; likewise for an interrupt between two iterations of a REP string
// instruction. Traps (INT n, INT3, INTO, INT1), aborts and interrupts
// between instructions push RF as it is.
uint64_t pushed_rflags(const CpuState& cpu, const Event& event) {
    bool sets_rf = false;
    switch (event.kind) {
    case EventKind::Exception:
        sets_rf = exception_class(event.vector) == ExceptionClass::Fault;
        break;
    case EventKind::ExternalInterrupt:
    case EventKind::Nmi:
        sets_rf = event.between_string_iterations;
        break;
    case EventKind::SoftwareInterrupt:
    case EventKind::SoftwareException:
        break;
    }
    return sets_rf ? cpu.rflags | kRf : cpu.rflags;
}

bool is_external(EventKind kind) {
    return kind == EventKind::ExternalInterrupt || kind == EventKind::Nmi ||
           kind == EventKind::Exception;
}

// Error code naming an IDT entry (bit 1) with EXT (bit 0).
uint32_t idt_error(uint8_t vector, EventKind kind) {
    return (static_cast<uint32_t>(vector) << 3) | 2u | (is_external(kind) ? 1u : 0u);
}

void deliver_once(CpuState& cpu, LinearMemory& memory, const Event& event) {
    const unsigned cpl = current_privilege(cpu);
    auto gate = read_idt_gate(memory, cpu, event.vector);
    if (!gate) {
        throw GuestFault::gp(idt_error(event.vector, event.kind));
    }
    if (gate->type != 0xe && gate->type != 0xf) {
        throw GuestFault::gp(idt_error(event.vector, event.kind));
    }
    bool software =
        event.kind == EventKind::SoftwareInterrupt || event.kind == EventKind::SoftwareException;
    if (software && gate->dpl < cpl) {
        throw GuestFault::gp(idt_error(event.vector, event.kind));
    }
    if (!gate->present) {
        throw GuestFault{kSegmentNotPresent, true, idt_error(event.vector, event.kind), 0};
    }
    uint16_t cs_selector = gate->selector;
    uint32_t ext = is_external(event.kind) ? 1u : 0u;
    if ((cs_selector & ~3u) == 0) {
        throw GuestFault::gp(ext);
    }
    auto code = read_descriptor(memory, cpu, cs_selector);
    if (!code || !code->is_code() || code->segment.dpl > cpl) {
        throw GuestFault::gp((cs_selector & ~3u) | ext);
    }
    if (!code->segment.present) {
        throw GuestFault{kSegmentNotPresent, true, (cs_selector & ~3u) | ext, 0};
    }
    if (!code->segment.l || code->segment.db) {
        throw GuestFault::gp((cs_selector & ~3u) | ext); // must be a 64-bit code segment
    }
    const unsigned new_cpl = code->conforming() ? cpl : code->segment.dpl;
    const bool stack_switch = new_cpl < cpl;

    uint64_t rsp = cpu.gpr[RSP];
    if (gate->ist) {
        rsp = read_tss_stack(memory, cpu, true, gate->ist);
    } else if (stack_switch) {
        rsp = read_tss_stack(memory, cpu, false, new_cpl);
    }
    rsp &= ~0xfULL;

    // Build the frame, then write it in one access so a fault leaves the
    // old stack and state untouched.
    uint64_t frame[6];
    int n = 0;
    if (event.has_error_code) {
        frame[n++] = event.error_code;
    }
    frame[n++] = cpu.rip;
    frame[n++] = cpu.seg[CS].selector;
    frame[n++] = pushed_rflags(cpu, event);
    frame[n++] = cpu.gpr[RSP];
    frame[n++] = cpu.seg[SS].selector;
    uint64_t new_rsp = rsp - static_cast<uint64_t>(n) * 8;
    if (!is_canonical(new_rsp) || !is_canonical(rsp - 1)) {
        throw GuestFault::ss(0);
    }
    memory.write_bytes(new_rsp, std::span(reinterpret_cast<const uint8_t*>(frame), n * 8),
                       new_cpl == 3);
    mark_descriptor_accessed(memory, cpu, cs_selector);

    if (event.vector == kPageFault && event.kind == EventKind::Exception) {
        cpu.cr2 = event.cr2;
    }
    if (stack_switch) {
        // A null SS with RPL = new CPL, as long mode loads it.
        Segment ss{};
        ss.selector = static_cast<uint16_t>(new_cpl);
        ss.unusable = 1;
        ss.dpl = static_cast<uint8_t>(new_cpl);
        ss.db = 1;
        cpu.seg[SS] = ss;
    }
    Segment cs = code->segment;
    cs.selector = static_cast<uint16_t>((cs_selector & ~3u) | new_cpl);
    cs.type |= 1; // accessed
    cpu.seg[CS] = cs;
    cpu.gpr[RSP] = new_rsp;
    cpu.rip = gate->offset;
    cpu.rflags &= ~(kTf | kNt | kRf | kVm);
    if (gate->type == 0xe) {
        cpu.rflags &= ~kIf;
    }
    cpu.events.interrupt_shadow = 0;
    if (event.kind == EventKind::Nmi) {
        cpu.events.nmi_masked = 1;
    }
}

} // namespace

void deliver_event_or_fault(CpuState& cpu, LinearMemory& memory, const Event& event) {
    deliver_once(cpu, memory, event);
}

Event exception_event(const GuestFault& fault) {
    return Event{fault.vector, EventKind::Exception, fault.has_error_code, fault.error_code,
                 fault.cr2};
}

DeliveryOutcome deliver_event(CpuState& cpu, LinearMemory& memory, const Event& event) {
    try {
        deliver_once(cpu, memory, event);
        return DeliveryOutcome::Delivered;
    } catch (const GuestFault& second) {
        FaultClass first_class =
            event.kind == EventKind::Exception ? classify(event.vector) : FaultClass::Benign;
        FaultClass second_class = classify(second.vector);
        if (first_class == FaultClass::DoubleFault) {
            return DeliveryOutcome::TripleFault;
        }
        bool double_fault =
            (first_class == FaultClass::Contributory && second_class == FaultClass::Contributory) ||
            (first_class == FaultClass::PageFault &&
             (second_class == FaultClass::Contributory || second_class == FaultClass::PageFault));
        Event next = double_fault ? Event{kDoubleFault, EventKind::Exception, true, 0, 0}
                                  : exception_event(second);
        // The second fault is handled serially: deliver it (or #DF) with the
        // same escalation rules.
        return deliver_event(cpu, memory, next);
    }
}

} // namespace krr
