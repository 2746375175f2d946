// KVM as an accelerator: runs a Machine's vCPU 0 in a KVM VM with no
// in-kernel irqchip. Guest RAM is the machine's GuestMemory itself (one
// memory slot); every port access, every access outside RAM (the local
// APIC and I/O APIC windows included) and every HLT exits to this loop,
// which hands them to the machine's device models. Interrupts come from
// the machine's own PIC/IOAPIC/LAPIC: when one is pending the loop asks
// KVM for an interrupt window and injects the vector when the guest can
// take it, so each delivery is seen here. An instruction KVM refuses to
// emulate (the nested KVM here refuses INT3, POPCNT, ... in guest kernel
// mode) is executed by krr's emulator on the same state and memory.
//
// Entries to the kernel from user mode on PVM (docs/kvm.md, "This host's
// KVM"): that KVM completes SYSCALL from CPL 3 only halfway (RIP = LSTAR,
// CPL still 3) and turns INT n into #UD. The accelerator therefore hands
// KVM a TR whose base no guest can map, so that every event from user
// mode fails at its stack switch and KVM stops with KVM_EXIT_SHUTDOWN
// before the guest sees anything, and an LSTAR no guest can map, so that
// the half-done SYSCALL is such an event (its first fetch faults); the
// guest's RDMSR and WRMSR of LSTAR come to the loop, which answers them
// with the guest's own value. The loop then completes that entry with krr's
// emulator on the guest's real state, exactly as the CPU would (and as
// replay does), and resumes KVM in kernel mode. Interrupts are not handed
// to this KVM at all: the loop delivers them with the emulator at an exit
// where the guest can take them. The guest's own TR base and LSTAR are
// CpuState's; only KVM sees the others.
//
// Device time under KVM (a recording logs every read that carries it): the
// host's monotonic clock since run() began, in the machine's instruction
// units (VirtualClock: 4 ns each), added to the count the machine had
// reached. A timer thread-directed signal kicks the vCPU out of KVM_RUN at
// the next device deadline (and at least every 10 ms), so timers fire
// while the guest computes. The guest's TSC is KVM's (docs/kvm.md).
#pragma once

#include "guest-model/trace/log_records.h"
#include "recorder/accel/emulator_accelerator.h"
#include "recorder/accel/kvm_vm.h"
#include "recorder/machine/machine.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <vector>

namespace krr {

// What the vCPU left KVM for, counted over a run.
struct KvmExitCounts {
    uint64_t port_reads = 0;
    uint64_t port_writes = 0;
    uint64_t mmio_reads = 0;
    uint64_t mmio_writes = 0;
    uint64_t halts = 0;
    uint64_t interrupt_windows = 0;
    uint64_t kicks = 0; // KVM_RUN interrupted by the timer signal
    uint64_t injected_interrupts = 0;
    // Instructions KVM refused to emulate (KVM_INTERNAL_ERROR_EMULATION)
    // and krr's emulator executed instead.
    uint64_t emulated_instructions = 0;
    // The guest's RDMSR/WRMSR of LSTAR, answered by krr (PVM only).
    uint64_t msr_accesses = 0;
    // Recording: the guest's TSC reads that reached krr (a patched RDTSC
    // site, an RDMSR of the TSC) and the positions taken for asynchronous
    // inputs and the end.
    uint64_t tsc_reads = 0;
    uint64_t positions = 0;
    uint64_t position_pages = 0; // pages hashed for them
    // PVM only (see above): SYSCALLs and exceptions (INT n included) from
    // user mode that krr completed, one KVM_EXIT_SHUTDOWN each, and the
    // interrupts and NMIs krr delivered itself at an exit.
    uint64_t syscalls_completed = 0;
    uint64_t exceptions_delivered = 0;
    // Of those: traps from user mode (INT3, INT1) whose delivery a kick
    // cancelled, found at that kick (complete_dropped_user_trap).
    uint64_t dropped_traps_completed = 0;
    uint64_t interrupts_delivered = 0;
    // Several vCPUs: the times KVM's vCPU changed hands (see take_turns).
    uint64_t vcpu_switches = 0;
    // Host time spent completing and delivering those (reading the state,
    // the emulator, writing it back), in nanoseconds.
    uint64_t user_entry_ns = 0;
    uint64_t user_entries() const {
        return syscalls_completed + exceptions_delivered + interrupts_delivered;
    }
    uint64_t total() const {
        return port_reads + port_writes + mmio_reads + mmio_writes + halts + interrupt_windows +
               kicks + emulated_instructions + msr_accesses + tsc_reads + user_entries();
    }
};

// A guest instruction that reads the TSC (or CPUID, which a KVM may answer
// with the host's features), rewritten to trap while KVM records
// (docs/kvm.md, "Recording under KVM"); krr's emulator executes it.
struct TrappedTscRead {
    uint64_t rip = 0;      // guest-virtual address of the instruction
    uint64_t physical = 0; // of its first byte
    uint8_t length = 2;    // RDTSC 2, RDTSCP 3
    bool rdtscp = false;
    bool cpuid = false;
    uint8_t original = 0; // the first byte, put back at the end
};

class KvmAccelerator {
public:
    // Creates the VM, maps the machine's memory and vCPU 0 with krr's
    // CPUID table. Throws krr::Error when KVM is unusable.
    explicit KvmAccelerator(Machine& machine);
    ~KvmAccelerator();
    KvmAccelerator(const KvmAccelerator&) = delete;
    KvmAccelerator& operator=(const KvmAccelerator&) = delete;

    // Loads vCPU 0's state from the machine into KVM, runs until a stop,
    // and stores the state back into the machine (so the emulator can
    // continue from it). `interrupt` is polled at least every 10 ms.
    AcceleratorStop run(const std::atomic<bool>* interrupt);

    // The vCPU to go on with (the emulator's current one at the handover).
    void set_current_vcpu(unsigned vcpu) { current_ = vcpu; }
    unsigned current_vcpu() const { return current_; }

    // Ask run() to return at the next exit. For device callbacks (power
    // off) on the vCPU's own thread; other threads use run()'s `interrupt`.
    void request_stop() { stop_requested_ = true; }

    // Recording (docs/kvm.md, "Recording under KVM"): from now on every
    // input reaches `observer` in the order the guest received it, with
    // kUnresolvedCount; synchronous ones (port and MMIO reads, TSC reads)
    // with their RIP, asynchronous ones (interrupts, NMIs) with a
    // StatePosition. The TSC reads at `tsc_reads` trap (their first byte
    // becomes INT3, which this KVM hands to krr) and get the machine's
    // clock; so do the guest's RDMSRs of the TSC.
    void start_recording(std::function<void(const trace::InputRecord&)> observer,
                         std::vector<TrappedTscRead> tsc_reads);
    // The position of the machine's current (stopped) state: for the end.
    trace::StatePosition position_now();
    // Puts the trapped instructions back (the guest's memory is then as the
    // guest wrote it). Also done by the destructor.
    void stop_recording();
    bool recording() const { return bool(input_observer_); }

    const KvmExitCounts& exit_counts() const { return exits_; }
    // Whether entries from user mode are completed by krr (this KVM is PVM).
    bool completes_user_entries() const { return completes_user_entries_; }
    // The machine's time in instruction units (see above).
    uint64_t clock_count() const;

private:
    AcceleratorStop run_loop(const std::atomic<bool>* interrupt);
    // False (with `stop` set) when delivering it here triple-faulted.
    bool inject_pending_interrupt(AcceleratorStop& stop);
    // Executes the instruction KVM refused in krr's emulator; false (with
    // `stop` set) when the emulator cannot either.
    bool emulate_refused_instruction(AcceleratorStop& stop);
    // After a KVM_EXIT_SHUTDOWN on PVM: completes the entry from user mode
    // KVM gave up on (the half-done SYSCALL, or the faulting instruction)
    // in krr's emulator. False (with `stop` set) for a real triple fault.
    bool complete_user_entry(AcceleratorStop& stop);
    // After a kick on PVM: completes a trap from user mode whose delivery
    // the kick cancelled and KVM forgot. False (with `stop` set) as above.
    bool complete_dropped_user_trap(AcceleratorStop& stop);
    // On PVM: delivers the machine's pending interrupt (or an NMI) with
    // krr's emulator when the guest can take it now.
    enum class Delivery { Delivered, NotNow, TripleFault };
    Delivery deliver_in_emulator(bool nmi, AcceleratorStop& stop);
    // The vCPU's state to and from KVM, with the TR base KVM is shown.
    void write_state(const CpuState& cpu);
    CpuState read_state();
    // Several vCPUs take turns on KVM's one vCPU (docs/smp.md, "Under
    // KVM"): at the top of each loop, hand it to the next vCPU that can run
    // once the running one has halted or had its turn. False (with `stop`
    // set) for what cannot happen under KVM (INIT, STARTUP).
    bool take_turns(AcceleratorStop& stop);
    std::optional<unsigned> next_runnable() const;
    void switch_to(unsigned next);
    // One step of waiting in HLT: inject what woke it, or sleep towards the
    // next device deadline. False (with `stop` set) when nothing can wake it.
    bool wait_while_halted(AcceleratorStop& stop);
    void handle_io();
    void handle_mmio();
    void handle_msr_access();
    void arm_kick();
    // Recording.
    friend class FallbackEnvironment;
    void log_input(trace::InputKind kind, uint64_t rip, uint64_t address, unsigned size,
                   uint64_t value, std::optional<trace::StatePosition> position = {});
    trace::StatePosition position_of(const CpuState& cpu);
    // The TSC value (before the guest's offset) for a read the recorder
    // answers, logged.
    uint64_t answer_tsc_read(uint64_t rip);
    // The trapped instruction at `rip`, if any.
    const TrappedTscRead* trap_at(uint64_t rip) const;
    // krr's emulator is about to write guest memory / has: its pages go to
    // the next position (KVM's dirty log does not see them).
    void begin_emulator_writes(Interpreter& interpreter);
    void end_emulator_writes(Interpreter& interpreter);
    // Completes an exit KVM has not finished (an IN's value, an MMIO read)
    // without entering the guest, so the state read back is between
    // instructions.
    void complete_pending_exit();

    Machine& machine_;
    KvmVm vm_;
    std::unique_ptr<KvmVcpu> vcpu_;
    // The table KVM and krr's emulator answer CPUID from (the emulator's
    // interpreters keep a reference to it).
    CpuidTable cpuid_;
    KvmExitCounts exits_;
    bool stop_requested_ = false;
    // Per vCPU: halted (HLT retired, no interrupt taken since).
    std::vector<uint8_t> halted_;
    // The vCPU KVM's one vCPU is running now, and since when.
    unsigned current_ = 0;
    std::chrono::steady_clock::time_point turn_started_;
    // The last exit was an instruction krr's emulator executed (take_turns).
    bool after_emulated_instruction_ = false;
    // NMIs sent to vCPUs that are not running (they run next).
    std::set<unsigned> pending_nmi_;
    // Recording: each vCPU's TSC offset (recorded_tsc_offset_ is the
    // running one's).
    std::vector<uint64_t> tsc_offsets_;
    // An interrupt (its vector) or an NMI was handed to KVM and no guest
    // entry has delivered it yet.
    std::optional<uint8_t> interrupt_in_flight_;
    bool nmi_in_flight_ = false;
    bool completes_user_entries_ = false;
    // krr has written the vCPU's state since the last exit, and whether
    // that state can take an interrupt.
    bool state_written_ = false;
    bool interruptible_as_written_ = false;
    // The guest's TR base and LSTAR while KVM is shown others.
    uint64_t guest_tr_base_ = 0;
    uint64_t guest_lstar_ = 0;
    uint64_t clock_base_ = 0;
    uint64_t clock_at_stop_ = 0;
    std::chrono::steady_clock::time_point started_;
    void* kick_ = nullptr; // the running run()'s KickTimer

    std::function<void(const trace::InputRecord&)> input_observer_;
    std::vector<TrappedTscRead> tsc_traps_; // by rip
    std::set<uint64_t> emulator_written_;   // page numbers, since the last position
    std::set<uint64_t> page_tables_;        // page numbers, from every position's walk
    uint64_t recorded_tsc_offset_ = 0;
};

} // namespace krr
