// The MC146818 real-time clock and CMOS RAM at ports 0x70 (index; bit 7, the
// NMI mask, is ignored) and 0x71 (data), IRQ 8.
//
// The date is the machine's configured start time plus elapsed virtual
// seconds, shown in BCD or binary and 12- or 24-hour format as register B
// asks. The clock advances at each whole second of virtual time since the
// machine started; update-in-progress (register A bit 7) is set for the
// 244 us before each advance, which is the window the datasheet promises
// the guest before registers change. With register B's SET bit the clock
// stops and the guest may write a new date, which runs on when SET clears.
// Register C reports update-ended, alarm and periodic flags; IRQ 8 pulses
// when one that register B enables becomes set. The alarm is compared with
// the time reached at each advance: while AIE or UIE is on, next_deadline()
// stops the CPU loop at every second, so no second goes unchecked.
#pragma once

#include "guest-model/byte_codec.h"
#include "recorder/devices/interrupt_line.h"
#include "recorder/machine/bus_device.h"

#include <array>
#include <cstdint>
#include <optional>

namespace krr {

// A calendar date and time of day (UTC, the proleptic Gregorian calendar).
struct CalendarTime {
    int year = 1970;
    int month = 1; // 1-12
    int day = 1;   // 1-31
    int hour = 0;
    int minute = 0;
    int second = 0;
    int weekday = 4; // 0 = Sunday; 1970-01-01 was a Thursday

    bool operator==(const CalendarTime&) const = default;
};

CalendarTime calendar_from_unix(int64_t seconds);
int64_t unix_from_calendar(const CalendarTime& time);

class CmosRtc final : public BusDevice {
public:
    static constexpr uint64_t kUpdateInProgressNs = 244'000;

    CmosRtc(int64_t start_unix_seconds, InterruptLine irq8);

    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, unsigned size, uint64_t value) override;

    void advance_to(uint64_t now_ns);
    std::optional<uint64_t> next_deadline() const;

    // The clock's current time in seconds since the Unix epoch.
    int64_t unix_time() const;
    uint8_t read_register(uint8_t index) const;

    // Snapshot state (a trace's DEVICE_STATE); load_state throws krr::Error
    // on a malformed encoding and leaves the model unusable only then.
    void save_state(ByteWriter& out) const;
    void load_state(ByteReader& in);

private:
    uint8_t encode(int value) const;
    int decode(uint8_t value) const;
    uint8_t encode_hour(int hour) const;
    int decode_hour(uint8_t value) const;
    void write_register(uint8_t index, uint8_t value);
    void freeze_time_registers();
    uint64_t periodic_frequency_hz() const;
    void set_flags(uint8_t flags);

    InterruptLine irq8_;
    uint64_t now_ = 0;
    // The clock shows base_unix_ + whole seconds since base_ns_.
    int64_t base_unix_;
    uint64_t base_ns_ = 0;
    uint8_t index_ = 0;
    std::array<uint8_t, 128> ram_{};
    uint64_t seconds_seen_ = 0; // clock advances already flagged
    uint64_t periods_seen_ = 0; // periodic interrupts already flagged
};

} // namespace krr
