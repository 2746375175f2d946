// The 8254 programmable interval timer at ports 0x40-0x43, clocked at
// 1.193182 MHz of virtual time. Channel 0 drives ISA IRQ 0; channel 2's gate
// and output are reached through port 0x61 (SystemControlPort), which is how
// the kernel calibrates the TSC; channel 1 (DRAM refresh) counts but goes
// nowhere.
//
// All six modes count; modes 0 (interrupt on terminal count), 2 (rate
// generator), 3 (square wave) and 4 (software strobe) are the ones Linux
// uses and are exact to the tick: a count written at tick t is loaded at
// t + 1 and the counter decrements once a tick from then on. Simplification:
// a new count written in modes 2 and 3 takes effect at once instead of at
// the end of the current period (Linux always writes the control word
// first, which stops the counter anyway). Mode 3 counts down by two in each
// half period, which is what a read of the counter shows.
#pragma once

#include "guest-model/byte_codec.h"
#include "recorder/devices/interrupt_line.h"
#include "recorder/machine/bus_device.h"

#include <array>
#include <cstdint>
#include <optional>

namespace krr {

class Pit8254 final : public BusDevice {
public:
    static constexpr unsigned kChannels = 3;

    explicit Pit8254(InterruptLine irq0);

    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, unsigned size, uint64_t value) override;

    // Virtual time in nanoseconds; never goes back. Raises IRQ 0 for each
    // rising edge of channel 0's output up to `now_ns` (edges the guest could
    // not have seen apart coalesce into one).
    void advance_to(uint64_t now_ns);
    // When channel 0's output next rises, if it will.
    std::optional<uint64_t> next_deadline() const;

    void set_gate(unsigned channel, bool level);
    bool gate(unsigned channel) const { return channels_.at(channel).gate; }
    bool output(unsigned channel) const;
    // The counter as a read without a latch would see it now.
    uint32_t count(unsigned channel) const;
    uint64_t now() const { return now_; }

    // Snapshot state (a trace's DEVICE_STATE); load_state throws krr::Error
    // on a malformed encoding and leaves the model unusable only then.
    void save_state(ByteWriter& out) const;
    void load_state(ByteReader& in);

private:
    struct Channel {
        uint8_t mode = 0;   // 0-5
        uint8_t access = 3; // 1 = low byte, 2 = high byte, 3 = low then high
        bool bcd = false;
        uint32_t initial = 0x10000; // the count loaded, 1..65536
        bool loaded = false;        // a count was written since the control word
        bool triggered = false;     // modes 1 and 5 start on a gate edge
        bool gate = true;
        uint64_t start_tick = 0; // tick at which elapsed() was `held`
        uint64_t held = 0;       // elapsed ticks before start_tick
        bool suspended = false;  // gate low in modes 0, 2, 3, 4
        uint64_t edges_seen = 0;
        bool null_count = true;
        bool write_high_next = false;
        uint8_t written_low = 0;
        bool read_high_next = false;
        std::optional<uint16_t> latched_count;
        bool latched_high_next = false;
        std::optional<uint8_t> latched_status;
    };

    uint64_t tick() const;
    bool counting(const Channel& c) const;
    uint64_t elapsed(const Channel& c) const;
    uint32_t counter_value(const Channel& c) const;
    bool output_of(const Channel& c) const;
    uint64_t rising_edges(const Channel& c) const;
    std::optional<uint64_t> edge_elapsed(const Channel& c, uint64_t index) const;
    uint16_t visible(const Channel& c, uint32_t count) const;
    void load(Channel& c, uint32_t written);
    void start(Channel& c);
    void write_control(uint8_t value);
    void latch_count(Channel& c);
    uint8_t read_counter(Channel& c);
    void write_counter(Channel& c, uint8_t value);

    std::array<Channel, kChannels> channels_;
    InterruptLine irq0_;
    uint64_t now_ = 0;
};

} // namespace krr
