// The two ways a PC's software resets it without ACPI: the keyboard
// controller's "pulse reset line" command (0xFE written to port 0x64) and the
// reset control register at 0xCF9. The kernel tries them in its emergency
// restart (panic=-1), before falling back to real-mode BIOS code this machine
// does not have. The i8042 itself stays absent: its status port reads all
// ones, which is what tells the i8042 driver there is no controller.
#pragma once

#include "recorder/machine/bus_device.h"

#include <cstdint>
#include <functional>

namespace krr {

class KeyboardControllerReset final : public BusDevice {
public:
    explicit KeyboardControllerReset(std::function<void()> reset) : reset_(std::move(reset)) {}
    uint64_t read(uint64_t, unsigned) override { return ~uint64_t(0); }
    void write(uint64_t, unsigned, uint64_t value) override {
        if ((value & 0xff) == 0xfe && reset_) {
            reset_();
        }
    }

private:
    std::function<void()> reset_;
};

class ResetControlRegister final : public BusDevice {
public:
    explicit ResetControlRegister(std::function<void()> reset) : reset_(std::move(reset)) {}
    uint64_t read(uint64_t, unsigned) override { return value_; }
    void write(uint64_t, unsigned, uint64_t value) override {
        // Bit 2 starts the reset; bits 1 and 3 choose its kind, which does
        // not matter to a machine that simply stops.
        value_ = value & 0x0e;
        if ((value & 0x04) && reset_) {
            reset_();
        }
    }

private:
    std::function<void()> reset_;
    uint64_t value_ = 0;
};

} // namespace krr
