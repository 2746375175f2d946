// The emulator as an accelerator: runs a Machine's vCPU in krr's interpreter.
// It is the CpuEnvironment of the interpreter (ports, MMIO and time go to the
// machine) and the vCPU loop around it: timers, interrupt delivery between
// instructions, HLT skipping virtual time forward to the next timer event.
//
// Everything here is a function of the instruction count, so two runs of the
// same machine with the same inputs execute identically.
//
// Several vCPUs run one at a time on one Interpreter (docs/smp.md): the
// runnable vCPU with the smallest clock (retired plus skipped instructions)
// runs until its clock passes the next smallest runnable clock by a quantum,
// or it halts. A vCPU woken from HLT or started by STARTUP has its clock
// raised to its waker's. Secondary vCPUs wait for INIT and STARTUP.
#pragma once

#include "guest-model/trace/emulator_clock_state.h"
#include "guest-model/trace/log_records.h"
#include "recorder/accel/interrupt_jitter.h"
#include "recorder/machine/machine.h"
#include "replay-engine/interpreter/interpreter.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace krr {

struct AcceleratorStop {
    enum class Kind : uint8_t {
        StopRequested,    // request_stop(): power off, Ctrl-C, the caller's decision
        InstructionLimit, // max_instructions reached
        TripleFault,
        HaltedForever, // HLT with interrupts off and no NMI: nothing can wake it
        Unimplemented, // the emulator met something it cannot execute
    };
    Kind kind = Kind::StopRequested;
    std::string message;
};

class EmulatorAccelerator final : public CpuEnvironment {
public:
    explicit EmulatorAccelerator(Machine& machine);
    ~EmulatorAccelerator() override;

    // Run the vCPUs until a stop. `max_instructions` bounds the retired
    // count summed over the vCPUs (0: no bound). `interrupt` is polled
    // between slices (Ctrl-C).
    AcceleratorStop run(uint64_t max_instructions, const std::atomic<bool>* interrupt);

    // Ask run() to return after the current instruction (from a device
    // callback, e.g. the control device's "power off").
    void request_stop();

    Interpreter& interpreter() { return *interpreter_; }
    // Sample where the vCPUs spend their instructions: at the end of every
    // slice, the slice's instruction count is added to its last RIP.
    void set_rip_profile(std::unordered_map<uint64_t, uint64_t>* samples) {
        rip_profile_ = samples;
    }
    // Instructions' worth of time vCPU `vcpu` skipped while halted or
    // waiting for STARTUP.
    uint64_t skipped_while_halted(unsigned vcpu = 0) const { return schedule_.at(vcpu).skipped; }
    // The retired count summed over the vCPUs as of the last slice, readable
    // from another thread (for progress displays).
    uint64_t published_instructions() const {
        return published_instructions_.load(std::memory_order_relaxed);
    }

    // The input boundary: every nondeterministic value the vCPU receives
    // (port and MMIO reads, interrupts, NMIs, the time skipped while halted)
    // is reported here, with its position, when an observer is set. This is
    // what `krr record` logs and what replay feeds back.
    void set_input_observer(std::function<void(const trace::InputRecord&)> observer) {
        input_observer_ = std::move(observer);
    }
    // Called between slices on the emulator's thread: the place to hand the
    // machine what arrived from outside (console input), so devices only
    // ever change on this thread and at instruction boundaries.
    void set_slice_hook(std::function<void()> hook) { slice_hook_ = std::move(hook); }
    // Call `checkpoint` whenever the retired count reaches a multiple of
    // `interval` (between instructions, before any interrupt at that count).
    void set_checkpoints(uint64_t interval, std::function<void()> checkpoint) {
        checkpoint_interval_ = interval;
        checkpoint_ = std::move(checkpoint);
    }
    // From now on, hold each external interrupt back by a pseudorandom
    // number of instructions drawn from `seed` (interrupt_jitter.h).
    // With several vCPUs the seed also varies the length of each vCPU's turn.
    void set_interrupt_jitter(uint64_t seed) {
        jitter_.emplace(seed);
        turn_seed_ = seed | 1;
    }
    // A vCPU's retired instructions plus those it skipped while halted: the
    // position its time is measured in.
    uint64_t clock_count(unsigned vcpu) const;
    // The vCPU executing now (or last).
    unsigned current_vcpu() const { return current_; }
    // The instructions retired by all vCPUs together: the machine's count,
    // which positions the inputs of several vCPUs in one order.
    uint64_t machine_instructions() const;
    // What a snapshot needs besides the vCPUs' states (emulator_clock_state.h).
    trace::EmulatorClockState clock_state() const;

    // CpuEnvironment
    uint64_t io_read(uint16_t port, int size) override;
    void io_write(uint16_t port, int size, uint64_t value) override;
    uint64_t mmio_read(uint64_t physical, int size) override;
    void mmio_write(uint64_t physical, int size, uint64_t value) override;
    uint64_t virtual_tsc(uint64_t instructions_retired) override;
    void paused() override;

private:
    // What the scheduler keeps per vCPU besides its VcpuState.
    struct VcpuSchedule {
        uint64_t skipped = 0; // instructions' worth of time skipped
        bool waiting_for_startup = false;
        bool nmi_requested = false;
        // The interpreter's position detail while the vCPU does not run.
        uint32_t deliveries = 0;
        uint64_t last_retired_rip = Interpreter::kNoRip;
    };

    void device_access_done();
    void report(trace::InputKind kind, uint64_t address, int size, uint64_t value);
    void report_for(unsigned vcpu, trace::InputKind kind, uint64_t address);
    void report_skip(unsigned vcpu, uint64_t instructions);
    bool interrupts_enabled(unsigned vcpu) const;
    bool runnable(unsigned vcpu) const;
    std::optional<unsigned> next_runnable() const;
    std::optional<unsigned> choose_vcpu() const;
    void switch_to(unsigned vcpu);
    void take_apic_requests();
    void wake_for_due_timers();
    void init_vcpu(unsigned vcpu);
    void start_vcpu(unsigned vcpu, uint8_t vector);

    Machine& machine_;
    CpuidTable cpuid_;
    std::unique_ptr<Interpreter> interpreter_;
    std::vector<VcpuSchedule> schedule_;
    unsigned current_ = 0;
    uint64_t quantum_ = 10000;     // instructions a vCPU may run ahead of the next
    uint64_t turn_start_ = 0;      // the current vCPU's retired count when its turn began
    bool yield_requested_ = false; // it executed PAUSE: others go first
    uint64_t turn_seed_ = 0;       // 0: every turn has the same quantum
    bool stop_requested_ = false;
    std::unordered_map<uint64_t, uint64_t>* rip_profile_ = nullptr;
    std::function<void(const trace::InputRecord&)> input_observer_;
    uint64_t checkpoint_interval_ = 0;
    std::function<void()> checkpoint_;
    std::function<void()> slice_hook_;
    std::atomic<uint64_t> published_instructions_{0};
    std::optional<InterruptJitter> jitter_;
};

} // namespace krr
