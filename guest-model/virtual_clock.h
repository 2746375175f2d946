// Guest time as a function of a vCPU's position, so that a run is a pure
// function of its inputs and time never has to be logged under the emulator.
//
// The position is the vCPU's instruction count: instructions retired plus the
// instructions a halted vCPU skipped while it waited for a timer (the vCPU
// layer owns that count). The rates are fixed, not configurable: a trace
// replays only if its clock is the same clock.
//
//   1 instruction       = 4 ns  (a 250 MHz CPU retiring one instruction a cycle)
//   TSC                 = 1 GHz (4 ticks per instruction)
//   local APIC timer    = 1 GHz bus clock before its divider (as KVM's)
//   8254 PIT input      = 1.193182 MHz
//   CMOS RTC            = the configured start time plus elapsed seconds
//
// 4 ns per instruction keeps the kernel's busy waits (PIT calibration,
// timer_irq_works, APIC timer calibration: about 350 ms of guest time in all)
// to under 100 million emulated instructions.
#pragma once

#include <cstdint>

namespace krr {

// The snapshot's device-state entry that carries the emulator's clock offset
// (instructions' worth of time skipped while halted before the snapshot),
// written by the recorder and read by replay.
inline constexpr const char* kEmulatorClockDevice = "emulator-clock";

class VirtualClock {
public:
    static constexpr uint64_t kNanosecondsPerInstruction = 4;
    static constexpr uint64_t kNanosecondsPerSecond = 1'000'000'000;
    static constexpr uint64_t kTscHz = 1'000'000'000;
    static constexpr uint64_t kApicBusHz = 1'000'000'000;
    static constexpr uint64_t kPitHz = 1'193'182;

    static constexpr uint64_t nanoseconds(uint64_t instructions) {
        return instructions * kNanosecondsPerInstruction;
    }
    static constexpr uint64_t tsc(uint64_t instructions) {
        return ticks(nanoseconds(instructions), kTscHz);
    }
    // The first instruction count at which `ns` has been reached.
    static constexpr uint64_t first_instruction_at(uint64_t ns) {
        return (ns + kNanosecondsPerInstruction - 1) / kNanosecondsPerInstruction;
    }

    // Whole ticks of a `hz` clock that started at time 0 and has run `ns`.
    static constexpr uint64_t ticks(uint64_t ns, uint64_t hz) {
        return uint64_t(wide(ns) * hz / kNanosecondsPerSecond);
    }
    // The earliest time at which ticks(time, hz) >= `count`.
    static constexpr uint64_t time_of_tick(uint64_t count, uint64_t hz) {
        return uint64_t((wide(count) * kNanosecondsPerSecond + hz - 1) / hz);
    }

private:
    __extension__ using Wide = unsigned __int128;
    static constexpr Wide wide(uint64_t v) { return Wide(v); }
};

} // namespace krr
