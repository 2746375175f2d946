// The I/O APIC (an 82093AA, version 0x11, 24 inputs) at 0xfec00000: turns
// interrupt lines into APIC messages through its redirection table.
//
// Edge-triggered inputs deliver on a rising edge; an edge that arrives while
// the entry is masked is lost, as the 82093AA datasheet says. Level-triggered
// inputs deliver while asserted and set Remote IRR, which the local APIC's
// EOI for that vector clears (the EOI broadcast); an input still asserted
// then delivers again.
#pragma once

#include "guest-model/byte_codec.h"
#include "recorder/devices/apic_message.h"
#include "recorder/machine/bus_device.h"

#include <array>
#include <cstdint>
#include <functional>

namespace krr {

class IoApic final : public BusDevice {
public:
    static constexpr unsigned kPins = 24;
    static constexpr uint32_t kVersion = 0x11;
    static constexpr uint64_t kWindowSize = 0x1000;
    static constexpr uint64_t kMasked = uint64_t(1) << 16;

    using Deliver = std::function<void(const ApicMessage&)>;

    IoApic(uint8_t id, Deliver deliver);

    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, unsigned size, uint64_t value) override;

    void set_irq(unsigned pin, bool asserted);
    // A local APIC ended a level-triggered interrupt with this vector.
    void end_of_interrupt(uint8_t vector);

    uint8_t id() const { return id_; }
    uint64_t redirection(unsigned pin) const { return redirection_.at(pin); }

    // Snapshot state (a trace's DEVICE_STATE); load_state throws krr::Error
    // on a malformed encoding and leaves the model unusable only then.
    void save_state(ByteWriter& out) const;
    void load_state(ByteReader& in);

private:
    uint32_t read_register(uint8_t index) const;
    void write_register(uint8_t index, uint32_t value);
    void service(unsigned pin);

    uint8_t id_;
    Deliver deliver_;
    uint8_t select_ = 0;
    std::array<uint64_t, kPins> redirection_;
    uint32_t asserted_ = 0;
};

} // namespace krr
