#include "recorder/accel/emulator_accelerator.h"

#include "guest-model/virtual_clock.h"

#include <algorithm>

namespace krr {

namespace {

// Instructions between checks for timers and interrupts when nothing else
// ends a slice earlier. Device accesses, STI and HLT end a slice at once, so
// this only bounds the latency of a timer interrupt in a busy loop
// (10000 instructions = 40 us of guest time).
constexpr uint64_t kSlice = 10000;

} // namespace

EmulatorAccelerator::EmulatorAccelerator(Machine& machine)
    : machine_(machine), cpuid_(default_cpuid_table(machine.vcpu_count())) {
    interpreter_ =
        std::make_unique<Interpreter>(machine_.vcpu(0), machine_.memory(), *this, cpuid_);
}

EmulatorAccelerator::~EmulatorAccelerator() = default;

uint64_t EmulatorAccelerator::clock_count() const {
    return machine_.vcpu(0).instructions_retired + skipped_while_halted_;
}

void EmulatorAccelerator::request_stop() {
    stop_requested_ = true;
    interpreter_->request_stop(StopReason::ExitRequested);
}

void EmulatorAccelerator::device_access_done() {
    // A device access may raise or clear an interrupt line: end the slice
    // after this instruction so the interrupt is looked at right away.
    interpreter_->request_stop(StopReason::ExitRequested);
}

void EmulatorAccelerator::report(trace::InputKind kind, uint64_t address, int size,
                                 uint64_t value) {
    if (input_observer_) {
        const VcpuState& vcpu = machine_.vcpu(0);
        input_observer_(trace::InputRecord{static_cast<uint8_t>(kind), 0, vcpu.instructions_retired,
                                           vcpu.cpu.rip, address, static_cast<uint8_t>(size),
                                           value});
    }
}

uint64_t EmulatorAccelerator::io_read(uint16_t port, int size) {
    machine_.advance_clock(0, clock_count());
    uint64_t v = machine_.io_read(0, port, static_cast<unsigned>(size));
    report(trace::InputKind::PortRead, port, size, v);
    device_access_done();
    return v;
}

void EmulatorAccelerator::io_write(uint16_t port, int size, uint64_t value) {
    machine_.advance_clock(0, clock_count());
    machine_.io_write(0, port, static_cast<unsigned>(size), value);
    device_access_done();
}

uint64_t EmulatorAccelerator::mmio_read(uint64_t physical, int size) {
    machine_.advance_clock(0, clock_count());
    uint64_t v = machine_.mmio_read(0, physical, static_cast<unsigned>(size));
    report(trace::InputKind::MmioRead, physical, size, v);
    device_access_done();
    return v;
}

void EmulatorAccelerator::mmio_write(uint64_t physical, int size, uint64_t value) {
    machine_.advance_clock(0, clock_count());
    machine_.mmio_write(0, physical, static_cast<unsigned>(size), value);
    device_access_done();
}

uint64_t EmulatorAccelerator::virtual_tsc(uint64_t instructions_retired) {
    return VirtualClock::tsc(instructions_retired + skipped_while_halted_);
}

AcceleratorStop EmulatorAccelerator::run(uint64_t max_instructions,
                                         const std::atomic<bool>* interrupt) {
    Interpreter& cpu = *interpreter_;
    VcpuState& vcpu = machine_.vcpu(0);
    stop_requested_ = false;
    uint64_t last_checkpoint = UINT64_MAX;
    for (;;) {
        if (stop_requested_ || (interrupt && interrupt->load(std::memory_order_relaxed))) {
            return {AcceleratorStop::Kind::StopRequested, {}};
        }
        if (max_instructions && vcpu.instructions_retired >= max_instructions) {
            return {AcceleratorStop::Kind::InstructionLimit, {}};
        }
        if (checkpoint_interval_ && vcpu.instructions_retired % checkpoint_interval_ == 0 &&
            vcpu.instructions_retired != last_checkpoint) {
            last_checkpoint = vcpu.instructions_retired;
            checkpoint_();
        }
        machine_.advance_clock(0, clock_count());
        if (slice_hook_) {
            slice_hook_();
        }
        ApicRequests requests = machine_.take_apic_requests(0);
        if (requests.nmi && !vcpu.cpu.events.nmi_masked) {
            report(trace::InputKind::Nmi, kNmi, 0, 0);
            cpu.deliver_nmi();
        }
        if (machine_.pending_interrupt(0, cpu.interrupts_enabled()) &&
            (!jitter_ || vcpu.cpu.events.halted ||
             jitter_->may_deliver(vcpu.instructions_retired))) {
            if (jitter_) {
                jitter_->delivered();
            }
            uint8_t vector = machine_.acknowledge_interrupt(0);
            report(trace::InputKind::Interrupt, vector, 0, 0);
            cpu.deliver_external_interrupt(vector);
        }
        if (vcpu.cpu.events.halted) {
            if (!(vcpu.cpu.rflags & (1ULL << 9))) {
                return {AcceleratorStop::Kind::HaltedForever,
                        "the CPU halted with interrupts disabled"};
            }
            auto deadline = machine_.next_timer_deadline();
            if (!deadline) {
                return {AcceleratorStop::Kind::HaltedForever,
                        "the CPU halted with no timer armed to wake it"};
            }
            // Skip forward to the next timer event; at least one instruction
            // of time so a deadline in the past cannot stall the loop.
            uint64_t now = clock_count();
            uint64_t skip = std::max<uint64_t>(*deadline, now + 1) - now;
            report(trace::InputKind::ClockSkip, 0, 8, skip);
            skipped_while_halted_ += skip;
            continue;
        }
        uint64_t target = vcpu.instructions_retired + kSlice;
        if (auto deadline = machine_.next_timer_deadline()) {
            uint64_t now = clock_count();
            uint64_t until = *deadline > now ? *deadline - now : 1;
            target = std::min(target, vcpu.instructions_retired + until);
        }
        if (jitter_ && jitter_->deadline() && *jitter_->deadline() > vcpu.instructions_retired) {
            target = std::min(target, *jitter_->deadline());
        }
        if (max_instructions) {
            target = std::min(target, max_instructions);
        }
        if (checkpoint_interval_) {
            uint64_t next =
                (vcpu.instructions_retired / checkpoint_interval_ + 1) * checkpoint_interval_;
            target = std::min(target, next);
        }
        const uint64_t slice_start = vcpu.instructions_retired;
        StopReason r = cpu.run(target);
        published_instructions_.store(vcpu.instructions_retired, std::memory_order_relaxed);
        if (rip_profile_) {
            (*rip_profile_)[vcpu.cpu.rip] += vcpu.instructions_retired - slice_start;
        }
        switch (r) {
        case StopReason::ReachedTarget:
        case StopReason::Halted:
        case StopReason::ExitRequested:
            break;
        case StopReason::TripleFault:
            return {AcceleratorStop::Kind::TripleFault, cpu.error()};
        case StopReason::Unimplemented:
            return {AcceleratorStop::Kind::Unimplemented, cpu.error()};
        case StopReason::Breakpoint:
        case StopReason::Watchpoint:
        case StopReason::Delivered:
            // The recorder runs without RunControl: these cannot happen.
            return {AcceleratorStop::Kind::Unimplemented,
                    std::string("unexpected debugger stop: ") + stop_reason_name(r)};
        }
    }
}

} // namespace krr
