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
// Device time under KVM (until the recorded clock of issue 7 part 3): the
// host's monotonic clock since run() began, in the machine's instruction
// units (VirtualClock: 4 ns each), added to the count the machine had
// reached. A timer thread-directed signal kicks the vCPU out of KVM_RUN at
// the next device deadline (and at least every 10 ms), so timers fire
// while the guest computes. The guest's TSC is KVM's (docs/kvm.md).
#pragma once

#include "recorder/accel/emulator_accelerator.h"
#include "recorder/accel/kvm_vm.h"
#include "recorder/machine/machine.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

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
    uint64_t total() const {
        return port_reads + port_writes + mmio_reads + mmio_writes + halts + interrupt_windows +
               kicks + emulated_instructions;
    }
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

    // Ask run() to return at the next exit. For device callbacks (power
    // off) on the vCPU's own thread; other threads use run()'s `interrupt`.
    void request_stop() { stop_requested_ = true; }

    const KvmExitCounts& exit_counts() const { return exits_; }
    // The machine's time in instruction units (see above).
    uint64_t clock_count() const;

private:
    AcceleratorStop run_loop(const std::atomic<bool>* interrupt);
    void inject_pending_interrupt();
    // Executes the instruction KVM refused in krr's emulator; false (with
    // `stop` set) when the emulator cannot either.
    bool emulate_refused_instruction(AcceleratorStop& stop);
    // One step of waiting in HLT: inject what woke it, or sleep towards the
    // next device deadline. False (with `stop` set) when nothing can wake it.
    bool wait_while_halted(AcceleratorStop& stop);
    void handle_io();
    void handle_mmio();
    void arm_kick();
    // Completes an exit KVM has not finished (an IN's value, an MMIO read)
    // without entering the guest, so the state read back is between
    // instructions.
    void complete_pending_exit();

    Machine& machine_;
    KvmVm vm_;
    std::unique_ptr<KvmVcpu> vcpu_;
    KvmExitCounts exits_;
    bool stop_requested_ = false;
    bool halted_ = false;
    // An interrupt was handed to KVM_INTERRUPT and no guest entry has
    // delivered it yet.
    bool injection_in_flight_ = false;
    uint64_t clock_base_ = 0;
    uint64_t clock_at_stop_ = 0;
    std::chrono::steady_clock::time_point started_;
    void* kick_ = nullptr; // the running run()'s KickTimer
};

} // namespace krr
