// A stand-in for the CPU loop: it runs "instructions" by moving the vCPU's
// instruction count on, and does port and MMIO accesses the way the loop
// will (advance the clock to the access, then access).
#pragma once

#include "guest-model/error.h"
#include "recorder/machine/machine.h"

#include <cstdint>

namespace krr::test {

// The documented rates (docs/machine.md): 4 ns per instruction, TSC 1 GHz.
inline constexpr uint64_t kNsPerInstruction = 4;
inline constexpr uint64_t kTscPerInstruction = 4;
inline constexpr double kPitHz = 1193182.0;

inline MachineConfig small_machine_config() {
    MachineConfig config;
    config.memory_bytes = 16ULL << 20;
    return config;
}

struct FakeCpu {
    Machine& machine;
    uint64_t icount = 0;
    // Instructions an `in` or `out` and the code around it take.
    uint64_t instructions_per_access = 10;

    void run(uint64_t instructions) {
        icount += instructions;
        machine.advance_clock(0, icount);
    }
    uint8_t inb(uint16_t port) {
        run(instructions_per_access);
        return uint8_t(machine.io_read(0, port, 1));
    }
    void outb(uint8_t value, uint16_t port) {
        run(instructions_per_access);
        machine.io_write(0, port, 1, value);
    }
    uint32_t apic_read(uint32_t offset) {
        run(instructions_per_access);
        return uint32_t(machine.mmio_read(0, 0xfee00000 + offset, 4));
    }
    void apic_write(uint32_t offset, uint32_t value) {
        run(instructions_per_access);
        machine.mmio_write(0, 0xfee00000 + offset, 4, value);
    }
    uint64_t rdtsc() {
        run(instructions_per_access);
        return icount * kTscPerInstruction;
    }
};

} // namespace krr::test
