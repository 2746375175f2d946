#include "recorder/accel/kvm_accelerator.h"

#include "guest-model/error.h"
#include "guest-model/state_hash.h"
#include "guest-model/virtual_clock.h"
#include "recorder/accel/kvm_state.h"
#include "recorder/machine/log.h"
#include "replay-engine/interpreter/interpreter.h"
#include "replay-engine/mmu/guest_fault.h"
#include "replay-engine/mmu/page_walk.h"

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

// The length of the user-mode trap instruction for `vector` ending just
// before `rip`: INT3 (cc, or cd 03) for #BP, INT1 (f1) for #DB; 0 when
// there is none.
unsigned trap_instruction_length_before(Interpreter& interpreter, uint64_t rip, uint8_t vector) {
    uint8_t before[2] = {};
    size_t fetched = 0;
    try {
        fetched = interpreter.memory().fetch(rip - 2, before, true);
    } catch (const GuestFault&) {
    }
    if (fetched != 2)
        return 0;
    if (vector == 3 && before[1] == 0xcc)
        return 1;
    if (vector == 3 && before[0] == 0xcd && before[1] == 0x03)
        return 2;
    if (vector == 1 && before[1] == 0xf1)
        return 1;
    return 0;
}

// Adds the time from its construction to its destruction to `total_ns`.
class TimeSpent {
public:
    explicit TimeSpent(uint64_t& total_ns)
        : total_ns_(total_ns), start_(std::chrono::steady_clock::now()) {}
    ~TimeSpent() {
        total_ns_ += uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now() - start_)
                                  .count());
    }

private:
    uint64_t& total_ns_;
    std::chrono::steady_clock::time_point start_;
};

// Longest time in KVM_RUN without a look at devices and stop requests.
constexpr uint64_t kMaxSliceNs = 10'000'000;
// Several vCPUs: the longest turn one has on KVM's vCPU while another can
// run (about 2,000 instructions of PVM's kernel mode, or millions of user
// mode), so a vCPU spinning on a lock another holds gives way soon.
constexpr uint64_t kTurnNs = 2'000'000;
// Shortest kick delay: a deadline already due fires at the loop's top.
constexpr uint64_t kMinKickNs = 20'000;
constexpr uint64_t kRflagsIf = 1ULL << 9;
constexpr uint64_t kRflagsRf = 1ULL << 16;
// What KVM is shown on PVM instead of the guest's TR base and LSTAR: not
// canonical, so no guest can map them. Reading RSP0 from that TSS fails for
// every event from user mode (and for any event through an IST stack), and
// a SYSCALL from user mode, which this KVM leaves at CPL 3, faults on its
// first fetch there.
constexpr uint64_t kUnmappableTrBase = 0x0000'8000'0000'0000ULL;
constexpr uint64_t kUnfetchableLstar = 0x0000'8000'0000'1000ULL;
constexpr uint32_t kMsrLstar = 0xc0000082;
constexpr uint32_t kMsrTsc = 0x10;
constexpr uint32_t kMsrMiscFeaturesEnables = 0x140;
constexpr uint64_t kCpuidFaulting = 1;

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

} // namespace

// The machine as the emulator sees it while it executes an instruction KVM
// refused or completes an entry: the same devices, the same clock; while
// recording, the reads it makes are logged like those of KVM's exits.
class FallbackEnvironment final : public CpuEnvironment {
public:
    FallbackEnvironment(Machine& machine, KvmAccelerator& kvm) : machine_(machine), kvm_(kvm) {}
    uint64_t io_read(uint16_t port, int size) override {
        machine_.advance_clock(kvm_.current_, kvm_.clock_count());
        uint64_t value = machine_.io_read(kvm_.current_, port, unsigned(size));
        if (kvm_.recording())
            kvm_.log_input(trace::InputKind::PortRead, rip(), port, unsigned(size), value);
        return value;
    }
    void io_write(uint16_t port, int size, uint64_t value) override {
        machine_.advance_clock(kvm_.current_, kvm_.clock_count());
        machine_.io_write(kvm_.current_, port, unsigned(size), value);
    }
    uint64_t mmio_read(uint64_t physical, int size) override {
        machine_.advance_clock(kvm_.current_, kvm_.clock_count());
        uint64_t value = machine_.mmio_read(kvm_.current_, physical, unsigned(size));
        if (kvm_.recording())
            kvm_.log_input(trace::InputKind::MmioRead, rip(), physical, unsigned(size), value);
        return value;
    }
    void mmio_write(uint64_t physical, int size, uint64_t value) override {
        machine_.advance_clock(kvm_.current_, kvm_.clock_count());
        machine_.mmio_write(kvm_.current_, physical, unsigned(size), value);
    }
    uint64_t virtual_tsc(uint64_t) override {
        if (kvm_.recording())
            return kvm_.answer_tsc_read(rip());
        return VirtualClock::tsc(kvm_.clock_count());
    }

private:
    // The instruction executing (the interpreter moves RIP when it retires).
    uint64_t rip() const { return machine_.vcpu(kvm_.current_).cpu.rip; }
    Machine& machine_;
    KvmAccelerator& kvm_;
};

KvmAccelerator::KvmAccelerator(Machine& machine) : machine_(machine) {
    // One slot: all of RAM. The machine's MMIO windows (I/O APIC, local
    // APIC) lie above the largest RAM size, so no hole is cut into it.
    vm_.map_memory(0, 0, machine_.memory().size(), machine_.memory().base());
    vcpu_ = vm_.create_vcpu(0);
    cpuid_ = default_cpuid_table(machine_.vcpu_count());
    vcpu_->set_cpuid(cpuid_, 0);
    completes_user_entries_ = kvm_is_pvm();
    if (completes_user_entries_) {
        vm_.trap_msr_accesses({kMsrLstar});
        // PVM runs the guest's user mode natively, where CPUID would
        // answer with the host's CPU instead of krr's table: CPUID faulting
        // makes it a #GP, which reaches krr (as every event from user mode
        // does here), whose emulator answers from the table.
        std::vector<kvm_msr_entry> faulting(1);
        faulting[0].index = kMsrMiscFeaturesEnables;
        faulting[0].data = kCpuidFaulting;
        std::vector<uint8_t> buffer = kvm_array_buffer(faulting);
        if (ioctl(vcpu_->fd(), kKvmSetMsrs, buffer.data()) != 1)
            throw Error("KVM", "this PVM refuses CPUID faulting, so the guest's user mode "
                               "would see the host's CPUID");
    }
}

KvmAccelerator::~KvmAccelerator() {
    stop_recording();
}

uint64_t KvmAccelerator::clock_count() const {
    auto elapsed = std::chrono::steady_clock::now() - started_;
    uint64_t ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
    return clock_base_ + ns / VirtualClock::kNanosecondsPerInstruction;
}

AcceleratorStop KvmAccelerator::run(const std::atomic<bool>* interrupt) {
    const unsigned count = machine_.vcpu_count();
    halted_.assign(count, 0);
    uint64_t base = std::max(clock_at_stop_, VirtualClock::first_instruction_at(machine_.now()));
    for (unsigned i = 0; i < count; ++i) {
        halted_[i] = machine_.vcpu(i).cpu.events.halted;
        base = std::max(base, machine_.vcpu(i).instructions_retired);
    }
    clock_base_ = base;
    started_ = std::chrono::steady_clock::now();
    // The vCPU that ran last goes on (if it is halted, take_turns hands
    // KVM's vCPU on at once, and a recording logs that switch).
    turn_started_ = started_;
    write_state(machine_.vcpu(current_).cpu);

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
        VcpuState& vcpu = machine_.vcpu(current_);
        vcpu.cpu = read_state();
    } catch (const Error& e) {
        if (stop.kind == AcceleratorStop::Kind::StopRequested)
            throw;
        stop.message +=
            std::string(" (and the vCPU state could not be read back: ") + e.what() + ")";
    }
    for (unsigned i = 0; i < count; ++i)
        machine_.vcpu(i).cpu.events.halted = halted_[i];
    clock_at_stop_ = clock_count();
    if (completes_user_entries_ && machine_.log().enabled(LogLevel::Info)) {
        machine_.log().write(
            LogLevel::Info,
            "KVM (PVM): krr completed " + std::to_string(exits_.syscalls_completed) +
                " SYSCALLs and " + std::to_string(exits_.exceptions_delivered) +
                " exceptions from user mode (" + std::to_string(exits_.dropped_traps_completed) +
                " of them traps a kick had dropped), delivered " +
                std::to_string(exits_.interrupts_delivered) + " interrupts, answered " +
                std::to_string(exits_.msr_accesses) + " LSTAR accesses (" +
                std::to_string(exits_.user_entry_ns / 1000) + " us in all) in " +
                std::to_string(
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started_)
                        .count()) +
                " s under KVM");
    }
    return stop;
}

AcceleratorStop KvmAccelerator::run_loop(const std::atomic<bool>* interrupt) {
    kvm_run& run = vcpu_->run();
    stop_requested_ = false;
    for (;;) {
        // An interrupt handed to KVM must reach the guest before the state
        // is read back: CpuState has no place for one in flight.
        if (!interrupt_in_flight_ && !nmi_in_flight_ &&
            (stop_requested_ || (interrupt && interrupt->load(std::memory_order_relaxed))))
            return {AcceleratorStop::Kind::StopRequested, {}};
        const uint64_t now = clock_count();
        for (unsigned i = 0; i < machine_.vcpu_count(); ++i)
            machine_.advance_clock(i, now);
        if (machine_.vcpu_count() > 1) {
            AcceleratorStop stop;
            if (!take_turns(stop))
                return stop;
        }
        if (pending_nmi_.erase(current_) || machine_.take_apic_requests(current_).nmi) {
            halted_[current_] = 0;
            if (completes_user_entries_) {
                // Linux takes NMIs on an IST stack, which KVM cannot reach
                // here (the TR base it is shown).
                AcceleratorStop stop;
                if (deliver_in_emulator(true, stop) == Delivery::TripleFault)
                    return stop;
            } else {
                kvm_ioctl(vcpu_->fd(), KVM_NMI, 0ul, "injecting an NMI");
                nmi_in_flight_ = true;
            }
        }
        if (halted_[current_]) {
            AcceleratorStop stop;
            if (!wait_while_halted(stop))
                return stop;
            continue;
        }
        {
            AcceleratorStop stop;
            if (!inject_pending_interrupt(stop))
                return stop;
        }

        run.immediate_exit = 0;
        arm_kick();
        after_emulated_instruction_ = false;
        int r = ioctl(vcpu_->fd(), KVM_RUN, 0);
        // The guest may have run even when KVM_RUN says EINTR (a kick).
        state_written_ = false;
        if (r < 0) {
            if (errno == EINTR) {
                ++exits_.kicks;
                AcceleratorStop stop;
                if (!complete_dropped_user_trap(stop))
                    return stop;
                continue;
            }
            throw Error("KVM: running the vCPU", errno_text(errno));
        }
        interrupt_in_flight_.reset();
        nmi_in_flight_ = false;
        switch (run.exit_reason) {
        case KVM_EXIT_IO:
            handle_io();
            break;
        case KVM_EXIT_MMIO:
            handle_mmio();
            break;
        case KVM_EXIT_X86_RDMSR:
        case KVM_EXIT_X86_WRMSR:
            handle_msr_access();
            break;
        case KVM_EXIT_HLT:
            ++exits_.halts;
            halted_[current_] = 1;
            break;
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            ++exits_.interrupt_windows;
            break;
        case KVM_EXIT_INTR: {
            ++exits_.kicks;
            AcceleratorStop stop;
            if (!complete_dropped_user_trap(stop))
                return stop;
            break;
        }
        case KVM_EXIT_SHUTDOWN:
            if (completes_user_entries_) {
                AcceleratorStop stop;
                if (!complete_user_entry(stop))
                    return stop;
                break;
            }
            return {AcceleratorStop::Kind::TripleFault,
                    "the guest triple-faulted (KVM_EXIT_SHUTDOWN) at RIP " +
                        hex(read_kvm_registers(vcpu_->fd()).regs.rip)};
        case KVM_EXIT_DEBUG: {
            // A software breakpoint (KVM_GUESTDBG_USE_SW_BP, set while
            // recording on KVMs other than PVM): a trapped TSC read, or the
            // guest's own INT3, which the emulator then delivers.
            AcceleratorStop stop;
            if (!emulate_refused_instruction(stop))
                return stop;
            break;
        }
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

std::optional<unsigned> KvmAccelerator::next_runnable() const {
    const unsigned count = machine_.vcpu_count();
    for (unsigned step = 1; step < count; ++step) {
        const unsigned i = (current_ + step) % count;
        // A halted vCPU with an interrupt for it wakes (it halted with IF
        // set, or wait_while_halted would have said it never wakes).
        const bool can_take = (machine_.vcpu(i).cpu.rflags & kRflagsIf) != 0;
        if (!halted_[i] || pending_nmi_.count(i) || machine_.pending_interrupt(i, can_take))
            return i;
    }
    return std::nullopt;
}

bool KvmAccelerator::take_turns(AcceleratorStop& stop) {
    // INIT and STARTUP come only while Linux brings its CPUs up, which the
    // emulator does before KVM takes over.
    for (unsigned i = 0; i < machine_.vcpu_count(); ++i) {
        if (i == current_)
            continue;
        ApicRequests requests = machine_.take_apic_requests(i);
        if (requests.init || requests.startup_vector) {
            stop = {AcceleratorStop::Kind::Unimplemented,
                    "vCPU " + std::to_string(i) +
                        " was sent INIT or STARTUP under KVM (CPU hotplug runs only in the "
                        "emulator)"};
            return false;
        }
        if (requests.nmi)
            pending_nmi_.insert(i);
    }
    // Not right after an instruction krr's emulator executed for KVM (a
    // trapped TSC read): on PVM the instruction before it ran in KVM's own
    // emulator, which leaves flags the SDM calls undefined other than krr
    // does (Linux's `ror $5` before the RDTSC of its stack offset mixing
    // leaves OF set there), and a switch's position would compare them.
    // Any other exit will do.
    if (after_emulated_instruction_)
        return true;
    const auto elapsed = std::chrono::steady_clock::now() - turn_started_;
    const bool turn_over = halted_[current_] || elapsed >= std::chrono::nanoseconds(kTurnNs) ||
                           (pending_nmi_.count(current_) == 0 && !pending_nmi_.empty());
    if (!turn_over)
        return true;
    std::optional<unsigned> next = next_runnable();
    for (unsigned i : pending_nmi_)
        if (i != current_)
            next = i;
    if (!next) {
        turn_started_ = std::chrono::steady_clock::now();
        return true;
    }
    // Not while KVM is delivering an event (an exception caught mid-way by
    // a kick): the state cannot be read out then. The next exit will do.
    complete_pending_exit();
    if (event_in_flight(vcpu_->fd()))
        return true;
    // Nor in the half-done SYSCALL this PVM leaves (RIP on the LSTAR it is
    // shown, at CPL 3): that state is no instruction boundary, and the
    // fault it takes next brings it to complete_user_entry.
    if (completes_user_entries_ && read_kvm_registers(vcpu_->fd()).regs.rip == kUnfetchableLstar)
        return true;
    switch_to(*next);
    return true;
}

void KvmAccelerator::switch_to(unsigned next) {
    complete_pending_exit();
    VcpuState& from = machine_.vcpu(current_);
    from.cpu = read_state();
    from.cpu.events.halted = halted_[current_];
    if (recording()) {
        // A switch is an asynchronous input like an interrupt: pinned to
        // the state the vCPU leaving has here. The record names the vCPU
        // that runs next and its RIP, as the emulator's do; the address
        // field carries the leaving vCPU's RIP, where its position is.
        trace::StatePosition position = position_of(from.cpu);
        const uint64_t leaving_rip = from.cpu.rip;
        const uint64_t rf = from.cpu.rflags & kRflagsRf;
        tsc_offsets_[current_] = recorded_tsc_offset_;
        current_ = next;
        log_input(trace::InputKind::VcpuSwitch, machine_.vcpu(next).cpu.rip, leaving_rip, 0, rf,
                  std::move(position));
        recorded_tsc_offset_ = tsc_offsets_[current_];
    } else {
        current_ = next;
    }
    ++exits_.vcpu_switches;
    turn_started_ = std::chrono::steady_clock::now();
    write_state(machine_.vcpu(current_).cpu);
}

bool KvmAccelerator::emulate_refused_instruction(AcceleratorStop& stop) {
    // Not a place to switch vCPUs at (take_turns).
    after_emulated_instruction_ = true;
    // KVM stopped before the instruction with nothing half done: take the
    // state out, let krr's emulator execute that one instruction (with any
    // exception it raises delivered through the guest's IDT), put it back.
    VcpuState& vcpu = machine_.vcpu(current_);
    vcpu.cpu = read_state();
    FallbackEnvironment environment(machine_, *this);
    // A fresh interpreter each time: KVM has changed memory behind the
    // back of any decoded-code cache an older one would hold.
    Interpreter interpreter(vcpu, machine_.memory(), environment, cpuid_);
    // A trapped instruction (TSC read, CPUID) runs from its own bytes: the
    // emulator answers it from the clock (logged) or krr's CPUID table.
    const TrappedTscRead* trap = trap_at(vcpu.cpu.rip);
    if (trap)
        machine_.memory().base()[trap->physical] = trap->original;
    begin_emulator_writes(interpreter);
    StopReason reason = interpreter.run(vcpu.instructions_retired + 1);
    end_emulator_writes(interpreter);
    if (trap)
        machine_.memory().base()[trap->physical] = 0xcc;
    ++exits_.emulated_instructions;
    switch (reason) {
    case StopReason::ReachedTarget:
    case StopReason::ExitRequested:
        break;
    case StopReason::Halted:
        halted_[current_] = 1;
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
    write_state(vcpu.cpu);
    return true;
}

KvmAccelerator::Delivery KvmAccelerator::deliver_in_emulator(bool nmi, AcceleratorStop& stop) {
    TimeSpent time(exits_.user_entry_ns);
    // An NMI is taken whatever RFLAGS.IF says; an interrupt needs IF set
    // and no interrupt shadow, read from KVM now (an exit's own fields may
    // be older than the guest's state after a kick).
    if (!nmi && !(read_kvm_registers(vcpu_->fd()).regs.rflags & kRflagsIf))
        return Delivery::NotNow;
    // An IN or MMIO read KVM has not finished would land in the handler.
    complete_pending_exit();
    // So would an exception KVM has begun to deliver (caught by a kick):
    // let KVM finish it first.
    if (event_in_flight(vcpu_->fd()))
        return Delivery::NotNow;
    VcpuState& vcpu = machine_.vcpu(current_);
    vcpu.cpu = read_state();
    if (!nmi && vcpu.cpu.events.interrupt_shadow)
        return Delivery::NotNow;
    FallbackEnvironment environment(machine_, *this);
    Interpreter interpreter(vcpu, machine_.memory(), environment, cpuid_);
    // The position is the state before the delivery; what the delivery
    // writes (the frame) belongs to the next one.
    std::optional<trace::StatePosition> position;
    if (recording())
        position = position_of(vcpu.cpu);
    begin_emulator_writes(interpreter);
    if (nmi) {
        if (position)
            log_input(trace::InputKind::Nmi, vcpu.cpu.rip, 2, 0, vcpu.cpu.rflags & kRflagsRf,
                      std::move(position));
        interpreter.deliver_nmi();
    } else {
        ++exits_.injected_interrupts;
        uint8_t vector = machine_.acknowledge_interrupt(current_);
        if (position)
            log_input(trace::InputKind::Interrupt, vcpu.cpu.rip, vector, 0,
                      vcpu.cpu.rflags & kRflagsRf, std::move(position));
        interpreter.deliver_external_interrupt(vector);
    }
    end_emulator_writes(interpreter);
    ++exits_.interrupts_delivered;
    if (!interpreter.error().empty()) {
        stop = {AcceleratorStop::Kind::TripleFault, interpreter.error()};
        return Delivery::TripleFault;
    }
    write_state(vcpu.cpu);
    return Delivery::Delivered;
}

bool KvmAccelerator::complete_dropped_user_trap(AcceleratorStop& stop) {
    if (!completes_user_entries_)
        return true;
    // A kick that lands while this PVM delivers a trap from user mode (INT3,
    // INT1) cancels the delivery and forgets the trap: KVM_RUN says EINTR
    // with RIP past the instruction, nothing pending or injected, and only
    // the vector KVM had queued left in its event state. Every other trap
    // from user mode ends in KVM_EXIT_SHUTDOWN, which krr completes and
    // writes back (zeroing that vector), and this KVM queues no #BP in
    // kernel mode (it refuses INT3 there), so a trap vector found after a
    // kick with its instruction just before RIP is one that was dropped.
    // (Measured: 20,000 INT3s in a loop lost 63; the kicks that stopped it
    // just past the INT3 left vector 3 there 63 times, and 0 the other 231.)
    kvm_vcpu_events events{};
    kvm_ioctl(vcpu_->fd(), KVM_GET_VCPU_EVENTS, &events, "reading pending events");
    if (events.exception.injected || events.exception.pending ||
        (events.exception.nr != 3 && events.exception.nr != 1))
        return true;
    VcpuState& vcpu = machine_.vcpu(current_);
    vcpu.cpu = read_state();
    if ((vcpu.cpu.seg[CS].selector & 3) != 3 || (vcpu.cpu.rflags & kRflagsRf))
        return true;
    {
        FallbackEnvironment environment(machine_, *this);
        Interpreter interpreter(vcpu, machine_.memory(), environment, cpuid_);
        if (!trap_instruction_length_before(interpreter, vcpu.cpu.rip, events.exception.nr))
            return true;
    }
    ++exits_.dropped_traps_completed;
    return complete_user_entry(stop);
}

bool KvmAccelerator::complete_user_entry(AcceleratorStop& stop) {
    TimeSpent time(exits_.user_entry_ns);
    VcpuState& vcpu = machine_.vcpu(current_);
    vcpu.cpu = read_state();
    CpuState& cpu = vcpu.cpu;
    const bool user = (cpu.seg[CS].selector & 3) == 3;
    FallbackEnvironment environment(machine_, *this);
    Interpreter interpreter(vcpu, machine_.memory(), environment, cpuid_);
    begin_emulator_writes(interpreter);
    struct EndWrites {
        KvmAccelerator& self;
        Interpreter& interpreter;
        ~EndWrites() { self.end_emulator_writes(interpreter); }
    } end_writes{*this, interpreter};
    StopReason reason = StopReason::ReachedTarget;
    if (user && cpu.seg[CS].l && (cpu.rip == kUnfetchableLstar || cpu.rip == cpu.msr.lstar)) {
        // The half-done SYSCALL: RCX and R11 hold what it saved, RIP is
        // LSTAR at CPL 3 and fetching there faulted. (The guest's own
        // LSTAR is met only if the guest wrote the MSR behind the filter's
        // back; a kernel's entry is a supervisor page, so it faults too.)
        // Go back to the instruction (SYSCALL overwrites RCX and R11
        // whatever they held) and let the emulator execute it.
        uint64_t at = cpu.gpr[RCX] - 2;
        uint8_t bytes[2] = {};
        size_t fetched = 0;
        try {
            fetched = interpreter.memory().fetch(at, bytes, true);
        } catch (const GuestFault&) {
        }
        if (fetched != 2 || bytes[0] != 0x0f || bytes[1] != 0x05) {
            stop = {AcceleratorStop::Kind::Unimplemented,
                    "KVM stopped at LSTAR in user mode without a SYSCALL before RCX " +
                        hex(cpu.gpr[RCX])};
            return false;
        }
        cpu.rip = at;
        cpu.rflags = cpu.gpr[R11];
        reason = interpreter.run(vcpu.instructions_retired + 1);
        ++exits_.syscalls_completed;
    } else {
        // An instruction faulted (INT n included, which PVM turns into
        // #UD): KVM stopped before the delivery with the state before the
        // instruction, but RF set. A trap leaves RF clear and RIP past the
        // instruction: INT3 (or INT 3) and INT1 are the ones a user program
        // makes.
        if (user && !(cpu.rflags & kRflagsRf)) {
            unsigned length = trap_instruction_length_before(interpreter, cpu.rip, 3);
            if (!length)
                length = trap_instruction_length_before(interpreter, cpu.rip, 1);
            if (!length) {
                stop = {AcceleratorStop::Kind::Unimplemented,
                        "KVM stopped after a trap from user mode at RIP " + hex(cpu.rip) +
                            " that is neither INT3 nor INT1 (single-step or a data breakpoint?)"};
                return false;
            }
            cpu.rip -= length;
        }
        // Execute it again up to the delivery of what it raises.
        cpu.rflags &= ~kRflagsRf;
        RunControl control;
        control.stop_after_deliveries = 1;
        reason = interpreter.run(vcpu.instructions_retired + 1, control);
        ++exits_.exceptions_delivered;
    }
    switch (reason) {
    case StopReason::ReachedTarget:
    case StopReason::Delivered:
    case StopReason::ExitRequested:
        break;
    case StopReason::Halted:
        halted_[current_] = 1;
        vcpu.cpu.events.halted = 0;
        break;
    case StopReason::TripleFault:
        stop = {AcceleratorStop::Kind::TripleFault, interpreter.error()};
        return false;
    default:
        stop = {AcceleratorStop::Kind::Unimplemented,
                "KVM stopped (shutdown) at RIP " + hex(vcpu.cpu.rip) +
                    " and the emulator could not continue: " + interpreter.error()};
        return false;
    }
    write_state(vcpu.cpu);
    return true;
}

void KvmAccelerator::write_state(const CpuState& cpu) {
    state_written_ = true;
    interruptible_as_written_ = (cpu.rflags & kRflagsIf) && !cpu.events.interrupt_shadow;
    uint64_t tsc = VirtualClock::tsc(clock_count());
    if (!completes_user_entries_) {
        write_kvm_state(vcpu_->fd(), cpu, tsc);
        return;
    }
    CpuState shown = cpu;
    guest_tr_base_ = cpu.tr.base;
    guest_lstar_ = cpu.msr.lstar;
    shown.tr.base = kUnmappableTrBase;
    shown.msr.lstar = kUnfetchableLstar;
    write_kvm_state(vcpu_->fd(), shown, tsc);
}

CpuState KvmAccelerator::read_state() {
    CpuState cpu = read_kvm_state(vcpu_->fd(), VirtualClock::tsc(clock_count()));
    // Another base means the guest loaded TR itself (LTR): that one is
    // its own, and write_state hides it again.
    if (completes_user_entries_ && cpu.tr.base == kUnmappableTrBase)
        cpu.tr.base = guest_tr_base_;
    if (completes_user_entries_ && cpu.msr.lstar == kUnfetchableLstar)
        cpu.msr.lstar = guest_lstar_;
    // While recording, the guest's TSC is the recorded clock plus its own
    // offset, whatever the hardware TSC says.
    if (recording())
        cpu.msr.tsc_offset = recorded_tsc_offset_;
    return cpu;
}

bool KvmAccelerator::inject_pending_interrupt(AcceleratorStop& stop) {
    kvm_run& run = vcpu_->run();
    run.request_interrupt_window = 0;
    if (!machine_.pending_interrupt(current_, true))
        return true;
    if (completes_user_entries_) {
        // PVM is not given interrupts: from user mode it would stop at the
        // stack switch (the TR base it is shown), and one handed to it in
        // kernel mode would leave a later KVM_EXIT_SHUTDOWN ambiguous (was
        // it delivered?). krr delivers it itself, at an exit, when the
        // state read from KVM can take it.
        Delivery delivery = deliver_in_emulator(false, stop);
        if (delivery == Delivery::NotNow)
            run.request_interrupt_window = 1;
        return delivery != Delivery::TripleFault;
    }
    // Both fields describe the state at the last exit: IF set, no
    // interrupt shadow, nothing already queued for injection. After krr
    // wrote a state of its own (an entry it completed, an instruction it
    // executed), that state says it: the exit's fields are stale.
    bool ready = state_written_ ? interruptible_as_written_
                                : run.ready_for_interrupt_injection && run.if_flag;
    if (!ready) {
        run.request_interrupt_window = 1;
        return true;
    }
    std::optional<trace::StatePosition> position;
    uint64_t rip = 0, rf = 0;
    if (recording()) {
        // KVM delivers it on entry, at the state after the last exit's
        // completion: that state is its position.
        complete_pending_exit();
        CpuState cpu = read_state();
        rip = cpu.rip;
        rf = cpu.rflags & kRflagsRf;
        position = position_of(cpu);
    }
    uint8_t vector = machine_.acknowledge_interrupt(current_);
    if (position)
        log_input(trace::InputKind::Interrupt, rip, vector, 0, rf, std::move(position));
    ++exits_.injected_interrupts;
    kvm_interrupt irq{vector};
    kvm_ioctl(vcpu_->fd(), KVM_INTERRUPT, &irq, "injecting an interrupt");
    interrupt_in_flight_ = vector;
    return true;
}

bool KvmAccelerator::wait_while_halted(AcceleratorStop& stop) {
    uint64_t rflags = read_kvm_registers(vcpu_->fd()).regs.rflags;
    if (!(rflags & kRflagsIf)) {
        // Halted for good (an NMI aside); with several vCPUs, the others may
        // still wake (take_turns then hands KVM's vCPU to them).
        bool others_can_wake = false;
        for (unsigned i = 0; i < machine_.vcpu_count(); ++i)
            if (i != current_ && (!halted_[i] || (machine_.vcpu(i).cpu.rflags & kRflagsIf)))
                others_can_wake = true;
        if (!others_can_wake) {
            stop = {AcceleratorStop::Kind::HaltedForever,
                    "the CPU halted with interrupts disabled"};
            return false;
        }
    }
    if ((rflags & kRflagsIf) && machine_.pending_interrupt(current_, true)) {
        // HLT has retired and ended any interrupt shadow: the interrupt
        // can be taken now, and wakes the vCPU.
        halted_[current_] = 0;
        if (completes_user_entries_)
            return deliver_in_emulator(false, stop) != Delivery::TripleFault;
        std::optional<trace::StatePosition> position;
        uint64_t rip = 0, rf = 0;
        if (recording()) {
            CpuState cpu = read_state();
            rip = cpu.rip;
            rf = cpu.rflags & kRflagsRf;
            position = position_of(cpu);
        }
        kvm_interrupt irq{machine_.acknowledge_interrupt(current_)};
        if (position)
            log_input(trace::InputKind::Interrupt, rip, irq.irq, 0, rf, std::move(position));
        kvm_ioctl(vcpu_->fd(), KVM_INTERRUPT, &irq, "injecting an interrupt");
        ++exits_.injected_interrupts;
        interrupt_in_flight_ = uint8_t(irq.irq);
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
    // The instruction is not complete yet: RIP is still the IN's.
    uint64_t rip = io.direction == KVM_EXIT_IO_IN && recording()
                       ? read_kvm_registers(vcpu_->fd()).regs.rip
                       : 0;
    // String I/O (INS/OUTS with REP) comes as `count` elements at once.
    for (uint32_t i = 0; i < io.count; ++i) {
        uint8_t* element = data + size_t(i) * io.size;
        machine_.advance_clock(current_, clock_count());
        if (io.direction == KVM_EXIT_IO_OUT) {
            uint64_t value = 0;
            std::memcpy(&value, element, io.size);
            machine_.io_write(current_, io.port, io.size, value);
        } else {
            uint64_t value = machine_.io_read(current_, io.port, io.size);
            std::memcpy(element, &value, io.size);
            if (recording())
                log_input(trace::InputKind::PortRead, rip, io.port, io.size, value);
        }
    }
}

void KvmAccelerator::handle_mmio() {
    kvm_run& run = vcpu_->run();
    auto& mmio = run.mmio;
    if (mmio.len == 0 || mmio.len > 8)
        throw Error("KVM: an MMIO access at " + hex(mmio.phys_addr),
                    std::to_string(mmio.len) + " bytes wide; the machine takes 1 to 8");
    machine_.advance_clock(current_, clock_count());
    if (mmio.is_write) {
        ++exits_.mmio_writes;
        uint64_t value = 0;
        std::memcpy(&value, mmio.data, mmio.len);
        machine_.mmio_write(current_, mmio.phys_addr, mmio.len, value);
    } else {
        ++exits_.mmio_reads;
        uint64_t value = machine_.mmio_read(current_, mmio.phys_addr, mmio.len);
        std::memcpy(mmio.data, &value, mmio.len);
        if (recording())
            log_input(trace::InputKind::MmioRead, read_kvm_registers(vcpu_->fd()).regs.rip,
                      mmio.phys_addr, mmio.len, value);
    }
}

void KvmAccelerator::handle_msr_access() {
    kvm_run& run = vcpu_->run();
    ++exits_.msr_accesses;
    run.msr.error = 0;
    if (run.msr.index == kMsrTsc && recording()) {
        // The TSC MSR reads and writes the recorded clock, as RDTSC does.
        uint64_t tsc = answer_tsc_read(read_kvm_registers(vcpu_->fd()).regs.rip);
        if (run.exit_reason == KVM_EXIT_X86_RDMSR)
            run.msr.data = tsc + recorded_tsc_offset_;
        else
            recorded_tsc_offset_ = run.msr.data - tsc;
        return;
    }
    if (run.msr.index != kMsrLstar) {
        run.msr.error = 1; // #GP, as for an MSR that does not exist
        return;
    }
    if (run.exit_reason == KVM_EXIT_X86_RDMSR) {
        run.msr.data = guest_lstar_;
    } else if (is_canonical(run.msr.data)) {
        guest_lstar_ = run.msr.data;
        // A kernel sets its entry points up together: if it has loaded TR
        // (LTR) under KVM, that TR must be hidden again now.
        kvm_sregs sregs{};
        kvm_ioctl(vcpu_->fd(), KVM_GET_SREGS, &sregs, "reading the segment registers");
        if (sregs.tr.base != kUnmappableTrBase) {
            guest_tr_base_ = sregs.tr.base;
            sregs.tr.base = kUnmappableTrBase;
            kvm_ioctl(vcpu_->fd(), KVM_SET_SREGS, &sregs, "hiding the guest's TR base");
        }
    } else {
        run.msr.error = 1;
    }
}

void KvmAccelerator::arm_kick() {
    uint64_t delay = machine_.vcpu_count() > 1 ? kTurnNs : kMaxSliceNs;
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

void KvmAccelerator::start_recording(std::function<void(const trace::InputRecord&)> observer,
                                     std::vector<TrappedTscRead> tsc_reads) {
    GuestMemory& memory = machine_.memory();
    input_observer_ = std::move(observer);
    recorded_tsc_offset_ = machine_.vcpu(current_).cpu.msr.tsc_offset;
    tsc_offsets_.clear();
    for (unsigned i = 0; i < machine_.vcpu_count(); ++i)
        tsc_offsets_.push_back(machine_.vcpu(i).cpu.msr.tsc_offset);
    // Positions hash the pages written since the previous one: KVM's dirty
    // log (what the guest and KVM wrote) and the pages krr's emulator wrote.
    vm_.map_memory(0, 0, memory.size(), memory.base(), true);
    (void)vm_.take_dirty_pages(0, memory.size() / kPageSize);
    emulator_written_.clear();
    std::vector<uint32_t> msrs{kMsrTsc};
    if (completes_user_entries_)
        msrs.push_back(kMsrLstar);
    vm_.trap_msr_accesses(msrs);
    std::sort(tsc_reads.begin(), tsc_reads.end(),
              [](const TrappedTscRead& a, const TrappedTscRead& b) { return a.rip < b.rip; });
    for (TrappedTscRead& site : tsc_reads) {
        if (site.physical >= memory.size())
            throw Error("recording under KVM",
                        "a TSC read at " + hex(site.rip) + " lies outside guest memory");
        site.original = memory.base()[site.physical];
        memory.base()[site.physical] = 0xcc; // INT3
    }
    tsc_traps_ = std::move(tsc_reads);
    if (!completes_user_entries_ && !tsc_traps_.empty()) {
        // Elsewhere INT3 in the guest's kernel runs in the guest: make it
        // exit (PVM's emulated kernel mode refuses it, which exits anyway).
        kvm_guest_debug debug{};
        debug.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
        kvm_ioctl(vcpu_->fd(), KVM_SET_GUEST_DEBUG, &debug, "trapping INT3");
    }
}

void KvmAccelerator::stop_recording() {
    for (const TrappedTscRead& site : tsc_traps_)
        machine_.memory().base()[site.physical] = site.original;
    tsc_traps_.clear();
    input_observer_ = nullptr;
}

void KvmAccelerator::log_input(trace::InputKind kind, uint64_t rip, uint64_t address, unsigned size,
                               uint64_t value, std::optional<trace::StatePosition> position) {
    trace::InputRecord record;
    record.kind = static_cast<uint8_t>(kind);
    record.vcpu = current_;
    record.instruction_count = trace::kUnresolvedCount;
    record.rip = rip;
    record.address = address;
    record.size = static_cast<uint8_t>(size);
    record.value = value;
    record.position = std::move(position);
    input_observer_(record);
}

trace::StatePosition KvmAccelerator::position_of(const CpuState& cpu) {
    const GuestMemory& memory = machine_.memory();
    std::set<uint64_t> pages(emulator_written_.begin(), emulator_written_.end());
    emulator_written_.clear();
    for (uint64_t page : vm_.take_dirty_pages(0, memory.size() / kPageSize))
        pages.insert(page);
    // Page tables known so far (every position's walk): their accessed
    // bits are KVM's business (state_hash.h). The resolver keeps the same.
    for (uint64_t table : page_table_pages(memory, cpu.cr3))
        page_tables_.insert(table);
    trace::StatePosition position;
    position.gpr = cpu.gpr;
    position.rflags = cpu.rflags & ~kRflagsRf; // see trace::StatePosition
    position.pages.assign(pages.begin(), pages.end());
    // Hashed as the guest wrote them: with the trapped instructions' first
    // bytes put back, as replay (which never sees the traps) has them.
    std::vector<std::pair<uint64_t, uint64_t>> numbered;
    numbered.reserve(pages.size());
    uint8_t copy[kPageSize];
    for (uint64_t page : position.pages) {
        const uint8_t* bytes = memory.base() + page * kPageSize;
        bool trapped = false;
        for (const TrappedTscRead& trap : tsc_traps_) {
            if (trap.physical / kPageSize == page) {
                if (!trapped) {
                    std::memcpy(copy, bytes, kPageSize);
                    trapped = true;
                }
                copy[trap.physical % kPageSize] = trap.original;
            }
        }
        const uint8_t* hashed = trapped ? copy : bytes;
        numbered.emplace_back(page, page_tables_.count(page) ? page_hash(hashed)
                                                             : exact_page_hash(hashed));
    }
    position.memory_hash = pages_hash(numbered);
    ++exits_.positions;
    exits_.position_pages += position.pages.size();
    return position;
}

trace::StatePosition KvmAccelerator::position_now() {
    return position_of(machine_.vcpu(current_).cpu);
}

uint64_t KvmAccelerator::answer_tsc_read(uint64_t rip) {
    uint64_t tsc = VirtualClock::tsc(clock_count());
    ++exits_.tsc_reads;
    log_input(trace::InputKind::Rdtsc, rip, 0, 8, tsc);
    return tsc;
}

const TrappedTscRead* KvmAccelerator::trap_at(uint64_t rip) const {
    auto it = std::lower_bound(tsc_traps_.begin(), tsc_traps_.end(), rip,
                               [](const TrappedTscRead& t, uint64_t r) { return t.rip < r; });
    return it != tsc_traps_.end() && it->rip == rip ? &*it : nullptr;
}

void KvmAccelerator::begin_emulator_writes(Interpreter& interpreter) {
    if (recording())
        interpreter.memory().start_dirty_tracking();
}

void KvmAccelerator::end_emulator_writes(Interpreter& interpreter) {
    if (!recording() || !interpreter.memory().dirty_tracking())
        return;
    for (uint64_t address : interpreter.memory().take_dirty_pages())
        emulator_written_.insert(address / kPageSize);
}

} // namespace krr
