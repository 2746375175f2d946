// What a device model looks like from a bus: a window of registers read and
// written by offset. A model never learns which accelerator runs the CPU.
#pragma once

#include <cstdint>

namespace krr {

class BusDevice {
public:
    virtual ~BusDevice() = default;
    // `offset` is relative to the start of the device's window; `size` is
    // 1, 2, 4 (or 8 on the memory bus) bytes, and the value read is
    // truncated to it by the bus.
    virtual uint64_t read(uint64_t offset, unsigned size) = 0;
    virtual void write(uint64_t offset, unsigned size, uint64_t value) = 0;
};

// Reads all ones, ignores writes: an ISA slot nobody answers on. Mapped
// explicitly where the kernel is known to probe, so those probes are not
// reported as unknown.
class AbsentDevice final : public BusDevice {
public:
    uint64_t read(uint64_t, unsigned) override { return ~uint64_t(0); }
    void write(uint64_t, unsigned, uint64_t) override {}
};

} // namespace krr
