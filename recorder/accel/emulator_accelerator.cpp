#include "recorder/accel/emulator_accelerator.h"

#include "guest-model/virtual_clock.h"
#include "replay-engine/mmu/guest_fault.h"
#include "replay-engine/system/cpu_startup.h"

#include <algorithm>

namespace krr {

namespace {

// Instructions between checks for timers and interrupts when nothing else
// ends a slice earlier. Device accesses, STI and HLT end a slice at once, so
// this only bounds the latency of a timer interrupt in a busy loop
// (10000 instructions = 40 us of guest time).
constexpr uint64_t kSlice = 10000;
// How far one vCPU's clock may run ahead of another runnable one's before
// the other runs (docs/smp.md).
constexpr uint64_t kQuantum = kSlice;
constexpr uint64_t kIf = 1ULL << 9;
// A vCPU that executes PAUSE (a spin-wait) after this many instructions of
// its turn lets the others run first; shorter turns would switch on every
// spin of two vCPUs waiting for each other.
constexpr uint64_t kTurnBeforePauseYields = 2000;

} // namespace

EmulatorAccelerator::EmulatorAccelerator(Machine& machine)
    : machine_(machine), cpuid_(default_cpuid_table(machine.vcpu_count())),
      schedule_(machine.vcpu_count()) {
    interpreter_ =
        std::make_unique<Interpreter>(machine_.vcpu(0), machine_.memory(), *this, cpuid_);
    // Secondary vCPUs start when the bootstrap processor sends them INIT
    // and STARTUP, as on a PC.
    for (unsigned i = 1; i < schedule_.size(); ++i) {
        schedule_[i].waiting_for_startup = true;
    }
}

EmulatorAccelerator::~EmulatorAccelerator() = default;

uint64_t EmulatorAccelerator::clock_count(unsigned vcpu) const {
    return machine_.vcpu(vcpu).instructions_retired + schedule_[vcpu].skipped;
}

trace::EmulatorClockState EmulatorAccelerator::clock_state() const {
    trace::EmulatorClockState state;
    state.current = current_;
    for (unsigned i = 0; i < schedule_.size(); ++i) {
        const VcpuSchedule& s = schedule_[i];
        trace::VcpuClockState v{s.skipped, s.waiting_for_startup, s.nmi_requested, s.deliveries,
                                s.last_retired_rip};
        if (i == current_) {
            v.deliveries = interpreter_->deliveries_since_retire();
            v.last_retired_rip = interpreter_->last_retired_rip();
        }
        state.vcpus.push_back(v);
    }
    return state;
}

uint64_t EmulatorAccelerator::machine_instructions() const {
    uint64_t total = 0;
    for (unsigned i = 0; i < schedule_.size(); ++i) {
        total += machine_.vcpu(i).instructions_retired;
    }
    return total;
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
        input_observer_(trace::InputRecord{static_cast<uint8_t>(kind), current_,
                                           machine_instructions(), machine_.vcpu(current_).cpu.rip,
                                           address, static_cast<uint8_t>(size), value, {}});
    }
}

void EmulatorAccelerator::report_for(unsigned vcpu, trace::InputKind kind, uint64_t address) {
    if (input_observer_) {
        input_observer_(trace::InputRecord{static_cast<uint8_t>(kind), vcpu, machine_instructions(),
                                           machine_.vcpu(vcpu).cpu.rip, address, 0, 0, {}});
    }
}

void EmulatorAccelerator::report_skip(unsigned vcpu, uint64_t instructions) {
    schedule_[vcpu].skipped += instructions;
    if (input_observer_) {
        input_observer_(trace::InputRecord{static_cast<uint8_t>(trace::InputKind::ClockSkip), vcpu,
                                           machine_instructions(), machine_.vcpu(vcpu).cpu.rip, 0,
                                           8, instructions, {}});
    }
}

uint64_t EmulatorAccelerator::io_read(uint16_t port, int size) {
    machine_.advance_clock(current_, clock_count(current_));
    uint64_t v = machine_.io_read(current_, port, static_cast<unsigned>(size));
    report(trace::InputKind::PortRead, port, size, v);
    device_access_done();
    return v;
}

void EmulatorAccelerator::io_write(uint16_t port, int size, uint64_t value) {
    machine_.advance_clock(current_, clock_count(current_));
    machine_.io_write(current_, port, static_cast<unsigned>(size), value);
    device_access_done();
}

uint64_t EmulatorAccelerator::mmio_read(uint64_t physical, int size) {
    machine_.advance_clock(current_, clock_count(current_));
    uint64_t v = machine_.mmio_read(current_, physical, static_cast<unsigned>(size));
    report(trace::InputKind::MmioRead, physical, size, v);
    device_access_done();
    return v;
}

void EmulatorAccelerator::mmio_write(uint64_t physical, int size, uint64_t value) {
    machine_.advance_clock(current_, clock_count(current_));
    machine_.mmio_write(current_, physical, static_cast<unsigned>(size), value);
    device_access_done();
}

void EmulatorAccelerator::paused() {
    if (schedule_.size() > 1 &&
        machine_.vcpu(current_).instructions_retired - turn_start_ >= kTurnBeforePauseYields) {
        yield_requested_ = true;
        interpreter_->request_stop(StopReason::ExitRequested);
    }
}

uint64_t EmulatorAccelerator::virtual_tsc(uint64_t instructions_retired) {
    return VirtualClock::tsc(instructions_retired + schedule_[current_].skipped);
}

bool EmulatorAccelerator::interrupts_enabled(unsigned vcpu) const {
    const CpuState& cpu = machine_.vcpu(vcpu).cpu;
    return (cpu.rflags & kIf) && !cpu.events.interrupt_shadow;
}

bool EmulatorAccelerator::runnable(unsigned vcpu) const {
    const VcpuSchedule& s = schedule_[vcpu];
    if (s.waiting_for_startup) {
        return false;
    }
    const CpuState& cpu = machine_.vcpu(vcpu).cpu;
    if (!cpu.events.halted) {
        return true;
    }
    return (s.nmi_requested && !cpu.events.nmi_masked) ||
           machine_.pending_interrupt(vcpu, interrupts_enabled(vcpu)).has_value();
}

// The runnable vCPU other than the current one with the smallest clock (the
// lowest index among equals).
std::optional<unsigned> EmulatorAccelerator::next_runnable() const {
    std::optional<unsigned> next;
    for (unsigned i = 0; i < schedule_.size(); ++i) {
        if (i != current_ && runnable(i) && (!next || clock_count(i) < clock_count(*next))) {
            next = i;
        }
    }
    return next;
}

// The current vCPU goes on while its clock is less than a quantum ahead of
// every other runnable one; otherwise the next runnable one runs (whose clock
// is then the smallest of all).
std::optional<unsigned> EmulatorAccelerator::choose_vcpu() const {
    const std::optional<unsigned> next = next_runnable();
    if (runnable(current_) && (!next || clock_count(current_) < clock_count(*next) + quantum_)) {
        return current_;
    }
    return next;
}

void EmulatorAccelerator::switch_to(unsigned vcpu) {
    VcpuSchedule& left = schedule_[current_];
    left.deliveries = interpreter_->deliveries_since_retire();
    left.last_retired_rip = interpreter_->last_retired_rip();
    const uint64_t waker_clock = clock_count(current_);
    report_for(vcpu, trace::InputKind::VcpuSwitch, 0);
    current_ = vcpu;
    turn_start_ = machine_.vcpu(vcpu).instructions_retired;
    if (turn_seed_) {
        // With a seed, each turn's quantum is drawn from [Q/2, 3Q/2).
        turn_seed_ = turn_seed_ * 6364136223846793005ULL + 1442695040888963407ULL;
        quantum_ = kQuantum / 2 + (turn_seed_ >> 33) % kQuantum;
    }
    VcpuSchedule& next = schedule_[vcpu];
    interpreter_->switch_vcpu(machine_.vcpu(vcpu), next.deliveries, next.last_retired_rip);
    // A vCPU that slept while others ran wakes at their time, not at its own.
    if (machine_.vcpu(vcpu).cpu.events.halted && clock_count(vcpu) < waker_clock) {
        report_skip(vcpu, waker_clock - clock_count(vcpu));
    }
}

// INIT puts a vCPU into its reset state, waiting for STARTUP.
void EmulatorAccelerator::init_vcpu(unsigned vcpu) {
    report_for(vcpu, trace::InputKind::VcpuInit, 0);
    apply_init(machine_.vcpu(vcpu).cpu);
    schedule_[vcpu].waiting_for_startup = true;
    schedule_[vcpu].nmi_requested = false;
    if (vcpu == current_) {
        interpreter_->switch_vcpu(machine_.vcpu(vcpu), 0, Interpreter::kNoRip);
    } else {
        schedule_[vcpu].deliveries = 0;
        schedule_[vcpu].last_retired_rip = Interpreter::kNoRip;
    }
}

// STARTUP with vector V starts a waiting vCPU in real mode at V000:0000.
void EmulatorAccelerator::start_vcpu(unsigned vcpu, uint8_t vector) {
    VcpuSchedule& s = schedule_[vcpu];
    if (!s.waiting_for_startup) {
        return; // ignored unless the vCPU waits for it
    }
    report_for(vcpu, trace::InputKind::VcpuStartup, vector);
    apply_startup(machine_.vcpu(vcpu).cpu, vector);
    s.waiting_for_startup = false;
    const uint64_t sender_clock = clock_count(current_);
    if (clock_count(vcpu) < sender_clock) {
        report_skip(vcpu, sender_clock - clock_count(vcpu));
    }
}

// A halted vCPU sleeps in the others' time: once the running vCPU's clock
// passes the halted one's local APIC deadline, the halted one is skipped to
// it so its timer fires.
void EmulatorAccelerator::wake_for_due_timers() {
    const uint64_t now = clock_count(current_);
    for (unsigned i = 0; i < schedule_.size(); ++i) {
        if (i == current_ || schedule_[i].waiting_for_startup ||
            !machine_.vcpu(i).cpu.events.halted) {
            continue;
        }
        const std::optional<uint64_t> ns = machine_.local_apic(i).next_deadline();
        if (!ns) {
            continue;
        }
        const uint64_t due = VirtualClock::first_instruction_at(*ns);
        if (due <= now && clock_count(i) < due) {
            report_skip(i, due - clock_count(i));
            machine_.advance_clock(i, clock_count(i));
        }
    }
}

void EmulatorAccelerator::take_apic_requests() {
    for (unsigned i = 0; i < schedule_.size(); ++i) {
        ApicRequests requests = machine_.take_apic_requests(i);
        if (requests.init) {
            init_vcpu(i);
        }
        if (requests.startup_vector) {
            start_vcpu(i, *requests.startup_vector);
        }
        if (requests.nmi) {
            schedule_[i].nmi_requested = true;
        }
    }
}

AcceleratorStop EmulatorAccelerator::run(uint64_t max_instructions,
                                         const std::atomic<bool>* interrupt) {
    Interpreter& cpu = *interpreter_;
    stop_requested_ = false;
    uint64_t last_checkpoint = UINT64_MAX;
    for (;;) {
        if (stop_requested_ || (interrupt && interrupt->load(std::memory_order_relaxed))) {
            return {AcceleratorStop::Kind::StopRequested, {}};
        }
        const uint64_t total = machine_instructions();
        if (max_instructions && total >= max_instructions) {
            return {AcceleratorStop::Kind::InstructionLimit, {}};
        }
        if (checkpoint_interval_ && total % checkpoint_interval_ == 0 && total != last_checkpoint) {
            last_checkpoint = total;
            checkpoint_();
        }
        machine_.advance_clock(current_, clock_count(current_));
        if (slice_hook_) {
            slice_hook_();
        }
        take_apic_requests();
        wake_for_due_timers();
        std::optional<unsigned> chosen = choose_vcpu();
        if (yield_requested_) {
            // After a PAUSE the runnable vCPU with the smallest clock among
            // the others goes first, if there is one.
            yield_requested_ = false;
            if (const std::optional<unsigned> next = next_runnable()) {
                chosen = next;
            }
        }
        if (!chosen) {
            // Every vCPU is halted (or waits for STARTUP) with nothing to
            // wake it: skip the halted ones forward to the next timer event.
            bool any_can_wake = false;
            for (unsigned i = 0; i < schedule_.size(); ++i) {
                const CpuState& state = machine_.vcpu(i).cpu;
                any_can_wake =
                    any_can_wake || (!schedule_[i].waiting_for_startup && (state.rflags & kIf));
            }
            if (!any_can_wake) {
                return {AcceleratorStop::Kind::HaltedForever,
                        "the CPU halted with interrupts disabled"};
            }
            auto deadline = machine_.next_timer_deadline();
            if (!deadline) {
                return {AcceleratorStop::Kind::HaltedForever,
                        "the CPU halted with no timer armed to wake it"};
            }
            // At least one instruction of time, so a deadline in the past
            // cannot stall the loop.
            for (unsigned i = 0; i < schedule_.size(); ++i) {
                if (schedule_[i].waiting_for_startup) {
                    continue;
                }
                const uint64_t now = clock_count(i);
                report_skip(i, std::max<uint64_t>(*deadline, now + 1) - now);
                machine_.advance_clock(i, clock_count(i));
            }
            continue;
        }
        if (*chosen != current_) {
            switch_to(*chosen);
            machine_.advance_clock(current_, clock_count(current_));
        }
        VcpuState& vcpu = machine_.vcpu(current_);
        VcpuSchedule& schedule = schedule_[current_];
        if (schedule.nmi_requested) {
            schedule.nmi_requested = false;
            if (!vcpu.cpu.events.nmi_masked) {
                report(trace::InputKind::Nmi, kNmi, 0, 0);
                cpu.deliver_nmi();
            }
        }
        if (machine_.pending_interrupt(current_, cpu.interrupts_enabled()) &&
            (!jitter_ || vcpu.cpu.events.halted || jitter_->may_deliver(machine_instructions()))) {
            if (jitter_) {
                jitter_->delivered();
            }
            uint8_t vector = machine_.acknowledge_interrupt(current_);
            report(trace::InputKind::Interrupt, vector, 0, 0);
            cpu.deliver_external_interrupt(vector);
        }
        if (vcpu.cpu.events.halted) {
            continue; // not runnable after all (an NMI it had to drop)
        }
        uint64_t target = vcpu.instructions_retired + kSlice;
        if (auto deadline = machine_.next_timer_deadline()) {
            uint64_t now = clock_count(current_);
            uint64_t until = *deadline > now ? *deadline - now : 1;
            target = std::min(target, vcpu.instructions_retired + until);
        }
        // Give way once a quantum ahead of the next runnable vCPU.
        if (const std::optional<unsigned> next = next_runnable()) {
            const uint64_t limit = clock_count(*next) + quantum_;
            const uint64_t now = clock_count(current_);
            target = std::min(target, vcpu.instructions_retired + (limit > now ? limit - now : 1));
        }
        if (jitter_ && jitter_->deadline() && *jitter_->deadline() > total) {
            target = std::min(target, vcpu.instructions_retired + (*jitter_->deadline() - total));
        }
        if (max_instructions) {
            target = std::min(target, vcpu.instructions_retired + (max_instructions - total));
        }
        if (checkpoint_interval_) {
            uint64_t next = (total / checkpoint_interval_ + 1) * checkpoint_interval_;
            target = std::min(target, vcpu.instructions_retired + (next - total));
        }
        const uint64_t slice_start = vcpu.instructions_retired;
        StopReason r = cpu.run(target);
        published_instructions_.store(total + (vcpu.instructions_retired - slice_start),
                                      std::memory_order_relaxed);
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
