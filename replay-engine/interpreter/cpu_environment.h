// What the CPU needs from the machine around it. The recorder implements it
// with the device models behind the input boundary; replay implements it by
// feeding the logged inputs back. The interpreter never knows which.
#pragma once

#include "replay-engine/mmu/linear_memory.h"

#include <cstdint>

namespace krr {

class CpuEnvironment : public MmioHandler {
public:
    // IN/OUT with size 1, 2 or 4.
    virtual uint64_t io_read(uint16_t port, int size) = 0;
    virtual void io_write(uint16_t port, int size, uint64_t value) = 0;
    // The time-stamp counter (before the guest's TSC offset) at this point
    // of this vCPU's execution: a function of the instruction count.
    virtual uint64_t virtual_tsc(uint64_t instructions_retired) = 0;
    // PAUSE executed: a spin-wait hint, where a machine running several
    // vCPUs one at a time may let another run (replay follows its log).
    virtual void paused() {}
};

} // namespace krr
