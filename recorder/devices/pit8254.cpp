#include "recorder/devices/pit8254.h"

#include "recorder/devices/device_state_codec.h"
#include "guest-model/virtual_clock.h"

namespace krr {

namespace {

constexpr uint64_t kControlPort = 3;

uint32_t modulus(bool bcd) {
    return bcd ? 10000 : 0x10000;
}

uint32_t from_bcd(uint32_t value) {
    uint32_t result = 0;
    uint32_t scale = 1;
    for (int digit = 0; digit < 4; ++digit) {
        result += ((value >> (4 * digit)) & 0xf) % 10 * scale;
        scale *= 10;
    }
    return result;
}

uint16_t to_bcd(uint32_t value) {
    uint16_t result = 0;
    for (int digit = 0; digit < 4; ++digit) {
        result |= uint16_t((value % 10) << (4 * digit));
        value /= 10;
    }
    return result;
}

} // namespace

Pit8254::Pit8254(InterruptLine irq0) : irq0_(std::move(irq0)) {}

uint64_t Pit8254::tick() const {
    return VirtualClock::ticks(now_, VirtualClock::kPitHz);
}

bool Pit8254::counting(const Channel& c) const {
    if (!c.loaded)
        return false;
    if ((c.mode == 1 || c.mode == 5) && !c.triggered)
        return false;
    return true;
}

uint64_t Pit8254::elapsed(const Channel& c) const {
    if (!counting(c) || c.suspended)
        return c.held;
    uint64_t t = tick();
    return t >= c.start_tick ? c.held + (t - c.start_tick) : c.held;
}

uint32_t Pit8254::counter_value(const Channel& c) const {
    if (!counting(c))
        return c.initial;
    uint64_t e = elapsed(c);
    uint64_t n = c.initial;
    switch (c.mode) {
    case 2:
        return uint32_t(n - e % n);
    case 3: {
        uint64_t phase = e % n;
        uint64_t high_half = (n + 1) / 2;
        uint64_t into_half = phase < high_half ? phase : phase - high_half;
        return uint32_t(n - 2 * into_half);
    }
    default: { // 0, 1, 4, 5: count down through zero and wrap
        uint64_t m = modulus(c.bcd);
        return uint32_t((n + m - e % m) % m);
    }
    }
}

bool Pit8254::output_of(const Channel& c) const {
    if (!c.loaded)
        return c.mode != 0;
    if (c.mode == 1 || c.mode == 5) {
        if (!c.triggered)
            return true;
    }
    uint64_t e = elapsed(c);
    uint64_t n = c.initial;
    switch (c.mode) {
    case 0:
        return e >= n;
    case 1:
        return e >= n;
    case 2:
        return c.suspended || e % n != n - 1;
    case 3:
        return c.suspended || e % n < (n + 1) / 2;
    default: // 4, 5: low for the one tick at terminal count
        return e != n;
    }
}

// Rising edges of the output since the count was loaded, and where the
// index-th (0-based) one falls in elapsed ticks.
std::optional<uint64_t> Pit8254::edge_elapsed(const Channel& c, uint64_t index) const {
    uint64_t n = c.initial;
    switch (c.mode) {
    case 0:
    case 1:
        return index == 0 ? std::optional<uint64_t>(n) : std::nullopt;
    case 2:
    case 3:
        return (index + 1) * n;
    default:
        return index == 0 ? std::optional<uint64_t>(n + 1) : std::nullopt;
    }
}

uint64_t Pit8254::rising_edges(const Channel& c) const {
    if (!counting(c))
        return 0;
    uint64_t e = elapsed(c);
    uint64_t n = c.initial;
    switch (c.mode) {
    case 0:
    case 1:
        return e >= n ? 1 : 0;
    case 2:
    case 3:
        return e / n;
    default:
        return e >= n + 1 ? 1 : 0;
    }
}

bool Pit8254::output(unsigned channel) const {
    return output_of(channels_.at(channel));
}

uint32_t Pit8254::count(unsigned channel) const {
    const Channel& c = channels_.at(channel);
    return visible(c, counter_value(c));
}

uint16_t Pit8254::visible(const Channel& c, uint32_t count) const {
    return c.bcd ? to_bcd(count % 10000) : uint16_t(count);
}

void Pit8254::advance_to(uint64_t now_ns) {
    if (now_ns < now_)
        return;
    now_ = now_ns;
    Channel& c = channels_[0];
    uint64_t edges = rising_edges(c);
    if (edges > c.edges_seen) {
        c.edges_seen = edges;
        pulse(irq0_);
    }
}

std::optional<uint64_t> Pit8254::next_deadline() const {
    const Channel& c = channels_[0];
    if (!counting(c) || c.suspended)
        return std::nullopt;
    auto edge = edge_elapsed(c, c.edges_seen);
    if (!edge)
        return std::nullopt;
    uint64_t edge_tick = c.start_tick + (*edge - c.held);
    return VirtualClock::time_of_tick(edge_tick, VirtualClock::kPitHz);
}

void Pit8254::start(Channel& c) {
    // The count is loaded on the next clock and decrements from the one after.
    c.start_tick = tick() + 1;
    c.held = 0;
    c.edges_seen = 0;
}

void Pit8254::load(Channel& c, uint32_t written) {
    uint32_t value = c.bcd ? from_bcd(written) : written;
    c.initial = value == 0 ? modulus(c.bcd) : value;
    c.loaded = true;
    c.null_count = false;
    c.triggered = false;
    c.suspended = !c.gate && c.mode != 1 && c.mode != 5;
    start(c);
}

void Pit8254::set_gate(unsigned channel, bool level) {
    Channel& c = channels_.at(channel);
    if (c.gate == level)
        return;
    if (level) {
        c.gate = true;
        c.suspended = false;
        switch (c.mode) {
        case 1:
        case 5:
        case 2:
        case 3:
            if (c.loaded) {
                c.triggered = true;
                start(c);
            }
            break;
        default: // 0 and 4 resume where they stopped
            c.start_tick = tick();
            break;
        }
        return;
    }
    c.held = elapsed(c);
    c.gate = false;
    if (c.mode != 1 && c.mode != 5)
        c.suspended = true;
}

void Pit8254::latch_count(Channel& c) {
    if (c.latched_count)
        return;
    c.latched_count = visible(c, counter_value(c));
    c.latched_high_next = false;
}

void Pit8254::write_control(uint8_t value) {
    unsigned select = value >> 6;
    if (select == 3) {
        // Read-back: bit 5 clear latches counts, bit 4 clear latches status.
        for (unsigned i = 0; i < kChannels; ++i) {
            if (!(value & (2u << i)))
                continue;
            Channel& c = channels_[i];
            if (!(value & 0x20))
                latch_count(c);
            if (!(value & 0x10) && !c.latched_status) {
                c.latched_status = uint8_t((output_of(c) ? 0x80 : 0) | (c.null_count ? 0x40 : 0) |
                                           (c.access << 4) | (c.mode << 1) | (c.bcd ? 1 : 0));
            }
        }
        return;
    }
    Channel& c = channels_[select];
    unsigned access = (value >> 4) & 3;
    if (access == 0) {
        latch_count(c);
        return;
    }
    unsigned mode = (value >> 1) & 7;
    c.mode = uint8_t(mode >= 6 ? mode - 4 : mode);
    c.access = uint8_t(access);
    c.bcd = value & 1;
    c.loaded = false;
    c.triggered = false;
    c.suspended = false;
    c.held = 0;
    c.null_count = true;
    c.write_high_next = false;
    c.read_high_next = false;
    c.latched_count.reset();
    c.latched_status.reset();
}

uint8_t Pit8254::read_counter(Channel& c) {
    if (c.latched_status) {
        uint8_t status = *c.latched_status;
        c.latched_status.reset();
        return status;
    }
    bool high;
    uint16_t value;
    if (c.latched_count) {
        value = *c.latched_count;
        high = c.access == 2 || (c.access == 3 && c.latched_high_next);
        if (c.access == 3 && !c.latched_high_next)
            c.latched_high_next = true;
        else
            c.latched_count.reset();
    } else {
        value = visible(c, counter_value(c));
        high = c.access == 2 || (c.access == 3 && c.read_high_next);
        if (c.access == 3)
            c.read_high_next = !c.read_high_next;
    }
    return uint8_t(high ? value >> 8 : value);
}

void Pit8254::write_counter(Channel& c, uint8_t value) {
    switch (c.access) {
    case 1:
        load(c, value);
        break;
    case 2:
        load(c, uint32_t(value) << 8);
        break;
    default:
        if (!c.write_high_next) {
            c.written_low = value;
            c.write_high_next = true;
            // Mode 0: writing the first byte stops the count and drops OUT.
            if (c.mode == 0)
                c.loaded = false;
        } else {
            c.write_high_next = false;
            load(c, (uint32_t(value) << 8) | c.written_low);
        }
        break;
    }
}

uint64_t Pit8254::read(uint64_t offset, unsigned) {
    if (offset == kControlPort)
        return 0xff; // the control word register cannot be read
    return read_counter(channels_[offset]);
}

void Pit8254::write(uint64_t offset, unsigned, uint64_t value) {
    if (offset == kControlPort)
        write_control(uint8_t(value));
    else
        write_counter(channels_[offset], uint8_t(value));
}

void Pit8254::save_state(ByteWriter& out) const {
    out.u8(1);
    out.u64(now_);
    for (const Channel& c : channels_) {
        out.u8(c.mode);
        out.u8(c.access);
        put_flag(out, c.bcd);
        out.u32(c.initial);
        for (bool f : {c.loaded, c.triggered, c.gate, c.suspended, c.null_count, c.write_high_next,
                       c.read_high_next, c.latched_high_next})
            put_flag(out, f);
        out.u64(c.start_tick);
        out.u64(c.held);
        out.u64(c.edges_seen);
        out.u8(c.written_low);
        put_flag(out, c.latched_count.has_value());
        out.u16(c.latched_count.value_or(0));
        put_flag(out, c.latched_status.has_value());
        out.u8(c.latched_status.value_or(0));
    }
}

void Pit8254::load_state(ByteReader& in) {
    expect_version(in, 1);
    now_ = in.u64();
    for (Channel& c : channels_) {
        c.mode = uint8_t(check_range(in, in.u8(), 0, 5, "PIT mode"));
        c.access = uint8_t(check_range(in, in.u8(), 1, 3, "PIT access mode"));
        c.bcd = get_flag(in);
        c.initial = uint32_t(check_range(in, in.u32(), 1, 0x10000, "PIT count"));
        c.loaded = get_flag(in);
        c.triggered = get_flag(in);
        c.gate = get_flag(in);
        c.suspended = get_flag(in);
        c.null_count = get_flag(in);
        c.write_high_next = get_flag(in);
        c.read_high_next = get_flag(in);
        c.latched_high_next = get_flag(in);
        c.start_tick = in.u64();
        c.held = in.u64();
        c.edges_seen = in.u64();
        c.written_low = in.u8();
        bool has_count = get_flag(in);
        uint16_t count = in.u16();
        c.latched_count = has_count ? std::optional<uint16_t>(count) : std::nullopt;
        bool has_status = get_flag(in);
        uint8_t status = in.u8();
        c.latched_status = has_status ? std::optional<uint8_t>(status) : std::nullopt;
    }
}

} // namespace krr
