#include "recorder/accel/kvm_accelerator.h"

#include "guest-model/error.h"
#include "guest-model/virtual_clock.h"
#include "recorder/accel/kvm_state.h"
#include "recorder/machine/log.h"
#include "replay-engine/interpreter/interpreter.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <linux/kvm.h>
#include <mutex>
#include <sys/ioctl.h>
#include <unistd.h>

namespace krr {

namespace {

// Longest time in KVM_RUN without a look at devices and stop requests.
constexpr uint64_t kMaxSliceNs = 10'000'000;
// Shortest kick delay: a deadline already due fires at the loop's top.
constexpr uint64_t kMinKickNs = 20'000;
constexpr uint64_t kRflagsIf = 1ULL << 9;

// The vCPU thread's run page, for the kick signal's handler: setting
// immediate_exit there closes the race between checking for work and
// entering KVM_RUN (a kick that arrives just before the ioctl makes it
// return at once).
thread_local kvm_run* t_kicked_run = nullptr;

void on_kick(int) {
    if (t_kicked_run)
        t_kicked_run->immediate_exit = 1;
}

int kick_signal() {
    static std::once_flag installed;
    static int signal_number = SIGRTMIN + 2;
    std::call_once(installed, [] {
        struct sigaction action {};
        action.sa_handler = on_kick;
        // SA_RESTART keeps the process's other system calls whole; KVM_RUN
        // returns EINTR whatever the flag says.
        action.sa_flags = SA_RESTART;
        sigemptyset(&action.sa_mask);
        if (sigaction(signal_number, &action, nullptr) != 0)
            throw Error("KVM: installing the vCPU kick signal", errno_text(errno));
    });
    return signal_number;
}

// The vCPU thread's kick timer, deleted with the run.
class KickTimer {
public:
    KickTimer() {
        sigevent event{};
        event.sigev_notify = SIGEV_THREAD_ID;
        event.sigev_signo = kick_signal();
        event._sigev_un._tid = gettid();
        if (timer_create(CLOCK_MONOTONIC, &event, &timer_) != 0)
            throw Error("KVM: creating the vCPU kick timer", errno_text(errno));
    }
    ~KickTimer() { timer_delete(timer_); }
    void arm(uint64_t ns) {
        itimerspec when{};
        when.it_value.tv_sec = time_t(ns / 1'000'000'000);
        when.it_value.tv_nsec = long(ns % 1'000'000'000);
        timer_settime(timer_, 0, &when, nullptr);
    }

private:
    timer_t timer_{};
};

// The machine as the emulator sees it while it executes an instruction KVM
// refused: the same devices, the same clock.
class FallbackEnvironment final : public CpuEnvironment {
public:
    FallbackEnvironment(Machine& machine, const KvmAccelerator& kvm)
        : machine_(machine), kvm_(kvm) {}
    uint64_t io_read(uint16_t port, int size) override {
        machine_.advance_clock(0, kvm_.clock_count());
        return machine_.io_read(0, port, unsigned(size));
    }
    void io_write(uint16_t port, int size, uint64_t value) override {
        machine_.advance_clock(0, kvm_.clock_count());
        machine_.io_write(0, port, unsigned(size), value);
    }
    uint64_t mmio_read(uint64_t physical, int size) override {
        machine_.advance_clock(0, kvm_.clock_count());
        return machine_.mmio_read(0, physical, unsigned(size));
    }
    void mmio_write(uint64_t physical, int size, uint64_t value) override {
        machine_.advance_clock(0, kvm_.clock_count());
        machine_.mmio_write(0, physical, unsigned(size), value);
    }
    uint64_t virtual_tsc(uint64_t) override { return VirtualClock::tsc(kvm_.clock_count()); }

private:
    Machine& machine_;
    const KvmAccelerator& kvm_;
};

} // namespace

KvmAccelerator::KvmAccelerator(Machine& machine) : machine_(machine) {
    if (machine_.vcpu_count() != 1)
        throw Error("KVM", "one vCPU is supported yet");
    // One slot: all of RAM. The machine's MMIO windows (I/O APIC, local
    // APIC) lie above the largest RAM size, so no hole is cut into it.
    vm_.map_memory(0, 0, machine_.memory().size(), machine_.memory().base());
    vcpu_ = vm_.create_vcpu(0);
    vcpu_->set_cpuid(default_cpuid_table(machine_.vcpu_count()), 0);
}

KvmAccelerator::~KvmAccelerator() = default;

uint64_t KvmAccelerator::clock_count() const {
    auto elapsed = std::chrono::steady_clock::now() - started_;
    uint64_t ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
    return clock_base_ + ns / VirtualClock::kNanosecondsPerInstruction;
}

AcceleratorStop KvmAccelerator::run(const std::atomic<bool>* interrupt) {
    VcpuState& vcpu = machine_.vcpu(0);
    clock_base_ = std::max(clock_at_stop_, vcpu.instructions_retired);
    started_ = std::chrono::steady_clock::now();
    halted_ = vcpu.cpu.events.halted;
    write_kvm_state(vcpu_->fd(), vcpu.cpu, VirtualClock::tsc(clock_base_));

    KickTimer timer;
    kick_ = &timer;
    t_kicked_run = &vcpu_->run();
    struct Detach {
        KvmAccelerator& self;
        ~Detach() {
            t_kicked_run = nullptr;
            self.kick_ = nullptr;
        }
    } detach{*this};

    AcceleratorStop stop = run_loop(interrupt);
    complete_pending_exit();
    try {
        vcpu.cpu = read_kvm_state(vcpu_->fd(), VirtualClock::tsc(clock_count()));
        vcpu.cpu.events.halted = halted_ ? 1 : 0;
    } catch (const Error& e) {
        if (stop.kind == AcceleratorStop::Kind::StopRequested)
            throw;
        stop.message +=
            std::string(" (and the vCPU state could not be read back: ") + e.what() + ")";
    }
    clock_at_stop_ = clock_count();
    return stop;
}

AcceleratorStop KvmAccelerator::run_loop(const std::atomic<bool>* interrupt) {
    kvm_run& run = vcpu_->run();
    stop_requested_ = false;
    for (;;) {
        // An interrupt handed to KVM must reach the guest before the state
        // is read back: CpuState has no place for one in flight.
        if (!injection_in_flight_ &&
            (stop_requested_ || (interrupt && interrupt->load(std::memory_order_relaxed))))
            return {AcceleratorStop::Kind::StopRequested, {}};
        machine_.advance_clock(0, clock_count());
        if (machine_.take_apic_requests(0).nmi) {
            kvm_ioctl(vcpu_->fd(), KVM_NMI, 0ul, "injecting an NMI");
            halted_ = false;
        }
        if (halted_) {
            AcceleratorStop stop;
            if (!wait_while_halted(stop))
                return stop;
            continue;
        }
        inject_pending_interrupt();

        run.immediate_exit = 0;
        arm_kick();
        int r = ioctl(vcpu_->fd(), KVM_RUN, 0);
        if (r < 0) {
            if (errno == EINTR) {
                ++exits_.kicks;
                continue;
            }
            throw Error("KVM: running the vCPU", errno_text(errno));
        }
        injection_in_flight_ = false;
        switch (run.exit_reason) {
        case KVM_EXIT_IO:
            handle_io();
            break;
        case KVM_EXIT_MMIO:
            handle_mmio();
            break;
        case KVM_EXIT_HLT:
            ++exits_.halts;
            halted_ = true;
            break;
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            ++exits_.interrupt_windows;
            break;
        case KVM_EXIT_INTR:
            ++exits_.kicks;
            break;
        case KVM_EXIT_SHUTDOWN:
            return {AcceleratorStop::Kind::TripleFault,
                    "the guest triple-faulted (KVM_EXIT_SHUTDOWN) at RIP " +
                        hex(read_kvm_registers(vcpu_->fd()).regs.rip)};
        case KVM_EXIT_FAIL_ENTRY:
            return {AcceleratorStop::Kind::Unimplemented,
                    "KVM could not enter the guest: hardware entry failure reason " +
                        hex(run.fail_entry.hardware_entry_failure_reason)};
        case KVM_EXIT_INTERNAL_ERROR: {
            if (run.internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
                AcceleratorStop stop;
                if (!emulate_refused_instruction(stop))
                    return stop;
                break;
            }
            std::string message = "KVM internal error, suberror " +
                                  std::to_string(run.internal.suberror) + " at RIP " +
                                  hex(read_kvm_registers(vcpu_->fd()).regs.rip);
            if (run.internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
                message += " (KVM's instruction emulator refused the instruction there)";
            for (uint32_t i = 0; i < run.internal.ndata && i < 16; ++i)
                message += (i ? " " : "; data ") + hex(run.internal.data[i]);
            return {AcceleratorStop::Kind::Unimplemented, message};
        }
        default:
            return {AcceleratorStop::Kind::Unimplemented,
                    "unexpected KVM exit " + std::to_string(run.exit_reason)};
        }
    }
}

bool KvmAccelerator::emulate_refused_instruction(AcceleratorStop& stop) {
    // KVM stopped before the instruction with nothing half done: take the
    // state out, let krr's emulator execute that one instruction (with any
    // exception it raises delivered through the guest's IDT), put it back.
    VcpuState& vcpu = machine_.vcpu(0);
    vcpu.cpu = read_kvm_state(vcpu_->fd(), VirtualClock::tsc(clock_count()));
    FallbackEnvironment environment(machine_, *this);
    // A fresh interpreter each time: KVM has changed memory behind the
    // back of any decoded-code cache an older one would hold.
    Interpreter interpreter(vcpu, machine_.memory(), environment,
                            default_cpuid_table(machine_.vcpu_count()));
    StopReason reason = interpreter.run(vcpu.instructions_retired + 1);
    ++exits_.emulated_instructions;
    switch (reason) {
    case StopReason::ReachedTarget:
    case StopReason::ExitRequested:
        break;
    case StopReason::Halted:
        halted_ = true;
        vcpu.cpu.events.halted = 0;
        break;
    case StopReason::TripleFault:
        stop = {AcceleratorStop::Kind::TripleFault, interpreter.error()};
        return false;
    default:
        stop = {AcceleratorStop::Kind::Unimplemented,
                "neither KVM nor the emulator could execute the instruction at RIP " +
                    hex(vcpu.cpu.rip) + ": " + interpreter.error()};
        return false;
    }
    write_kvm_state(vcpu_->fd(), vcpu.cpu, VirtualClock::tsc(clock_count()));
    return true;
}

void KvmAccelerator::inject_pending_interrupt() {
    kvm_run& run = vcpu_->run();
    run.request_interrupt_window = 0;
    if (!machine_.pending_interrupt(0, true))
        return;
    // Both fields describe the state at the last exit: IF set, no
    // interrupt shadow, nothing already queued for injection.
    if (run.ready_for_interrupt_injection && run.if_flag) {
        kvm_interrupt irq{machine_.acknowledge_interrupt(0)};
        kvm_ioctl(vcpu_->fd(), KVM_INTERRUPT, &irq, "injecting an interrupt");
        ++exits_.injected_interrupts;
        injection_in_flight_ = true;
    } else {
        run.request_interrupt_window = 1;
    }
}

bool KvmAccelerator::wait_while_halted(AcceleratorStop& stop) {
    uint64_t rflags = read_kvm_registers(vcpu_->fd()).regs.rflags;
    if (!(rflags & kRflagsIf)) {
        stop = {AcceleratorStop::Kind::HaltedForever, "the CPU halted with interrupts disabled"};
        return false;
    }
    if (machine_.pending_interrupt(0, true)) {
        // HLT has retired and ended any interrupt shadow: the interrupt
        // can be taken now, and wakes the vCPU.
        kvm_interrupt irq{machine_.acknowledge_interrupt(0)};
        kvm_ioctl(vcpu_->fd(), KVM_INTERRUPT, &irq, "injecting an interrupt");
        ++exits_.injected_interrupts;
        injection_in_flight_ = true;
        halted_ = false;
        return true;
    }
    auto deadline = machine_.next_timer_deadline();
    if (!deadline) {
        stop = {AcceleratorStop::Kind::HaltedForever,
                "the CPU halted with no timer armed to wake it"};
        return false;
    }
    // Device time is host time here: sleep until the deadline (or the
    // longest slice, to look at stop requests).
    uint64_t now = clock_count();
    uint64_t wait_ns =
        *deadline > now ? (*deadline - now) * VirtualClock::kNanosecondsPerInstruction : 0;
    wait_ns = std::min(wait_ns, kMaxSliceNs);
    if (wait_ns) {
        timespec pause{time_t(wait_ns / 1'000'000'000), long(wait_ns % 1'000'000'000)};
        nanosleep(&pause, nullptr);
    }
    return true;
}

void KvmAccelerator::handle_io() {
    kvm_run& run = vcpu_->run();
    const auto& io = run.io;
    uint8_t* data = reinterpret_cast<uint8_t*>(&run) + io.data_offset;
    if (io.direction == KVM_EXIT_IO_OUT)
        ++exits_.port_writes;
    else
        ++exits_.port_reads;
    // String I/O (INS/OUTS with REP) comes as `count` elements at once.
    for (uint32_t i = 0; i < io.count; ++i) {
        uint8_t* element = data + size_t(i) * io.size;
        machine_.advance_clock(0, clock_count());
        if (io.direction == KVM_EXIT_IO_OUT) {
            uint64_t value = 0;
            std::memcpy(&value, element, io.size);
            machine_.io_write(0, io.port, io.size, value);
        } else {
            uint64_t value = machine_.io_read(0, io.port, io.size);
            std::memcpy(element, &value, io.size);
        }
    }
}

void KvmAccelerator::handle_mmio() {
    kvm_run& run = vcpu_->run();
    auto& mmio = run.mmio;
    if (mmio.len == 0 || mmio.len > 8)
        throw Error("KVM: an MMIO access at " + hex(mmio.phys_addr),
                    std::to_string(mmio.len) + " bytes wide; the machine takes 1 to 8");
    machine_.advance_clock(0, clock_count());
    if (mmio.is_write) {
        ++exits_.mmio_writes;
        uint64_t value = 0;
        std::memcpy(&value, mmio.data, mmio.len);
        machine_.mmio_write(0, mmio.phys_addr, mmio.len, value);
    } else {
        ++exits_.mmio_reads;
        uint64_t value = machine_.mmio_read(0, mmio.phys_addr, mmio.len);
        std::memcpy(mmio.data, &value, mmio.len);
    }
}

void KvmAccelerator::arm_kick() {
    uint64_t delay = kMaxSliceNs;
    if (auto deadline = machine_.next_timer_deadline()) {
        uint64_t now = clock_count();
        uint64_t until =
            *deadline > now ? (*deadline - now) * VirtualClock::kNanosecondsPerInstruction : 0;
        delay = std::min(delay, std::max(until, kMinKickNs));
    }
    static_cast<KickTimer*>(kick_)->arm(delay);
}

void KvmAccelerator::complete_pending_exit() {
    kvm_run& run = vcpu_->run();
    run.immediate_exit = 1;
    int r = ioctl(vcpu_->fd(), KVM_RUN, 0);
    int err = errno;
    run.immediate_exit = 0;
    if (r == 0 || err != EINTR)
        throw Error("KVM: completing the last exit",
                    r == 0 ? "KVM entered the guest despite immediate_exit" : errno_text(err));
}

} // namespace krr
