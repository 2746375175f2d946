// Device state survives a save into DEVICE_STATE entries and a restore into
// a fresh machine: both machines then behave the same from there on.
#include "machine_fixture.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using krr::Machine;
using krr::test::FakeCpu;

namespace {

void program_devices(FakeCpu& cpu) {
    // 8259 as Linux sets it up, IRQ 0 unmasked; the APIC passes ExtINT.
    for (auto [value, port] : std::vector<std::pair<uint8_t, uint16_t>>{{0x11, 0x20},
                                                                        {0x30, 0x21},
                                                                        {0x04, 0x21},
                                                                        {0x01, 0x21},
                                                                        {0x11, 0xa0},
                                                                        {0x38, 0xa1},
                                                                        {0x02, 0xa1},
                                                                        {0x01, 0xa1},
                                                                        {0xfe, 0x21},
                                                                        {0xff, 0xa1}})
        cpu.outb(value, port);
    cpu.apic_write(0xf0, 0x1ff);
    cpu.apic_write(0x350, 0x700);
    // PIT channel 0 periodic at 1 kHz; APIC timer periodic every 300 us.
    cpu.outb(0x34, 0x43);
    cpu.outb(1193 & 0xff, 0x40);
    cpu.outb(1193 >> 8, 0x40);
    cpu.apic_write(0x3e0, 0xb);
    cpu.apic_write(0x320, (1u << 17) | 0xef);
    cpu.apic_write(0x380, 300'000);
    // COM1: receive interrupts, two bytes waiting; scratch register set.
    cpu.outb(0x01, 0x3f9);
    cpu.outb(0x08, 0x3fc);
    cpu.outb(0x77, 0x3ff);
    const uint8_t input[] = {'o', 'k'};
    cpu.machine.console_input(input);
    // RTC in binary mode.
    cpu.outb(0x0b, 0x70);
    cpu.outb(0x06, 0x71);
    cpu.run(12'345'678);
}

struct Observation {
    std::optional<uint8_t> pending;
    std::optional<uint64_t> deadline;
    uint32_t pit_count;
    uint32_t apic_count;
    uint8_t com1_rx, com1_scratch, rtc_seconds, rtc_minutes;
    bool operator==(const Observation&) const = default;
};

Observation observe(FakeCpu& cpu) {
    Observation o;
    o.pending = cpu.machine.pending_interrupt(0, true);
    o.deadline = cpu.machine.next_timer_deadline();
    cpu.outb(0x00, 0x43);
    o.pit_count = cpu.inb(0x40);
    o.pit_count |= uint32_t(cpu.inb(0x40)) << 8;
    o.apic_count = cpu.apic_read(0x390);
    o.com1_rx = cpu.inb(0x3f8);
    o.com1_scratch = cpu.inb(0x3ff);
    cpu.outb(0x00, 0x70);
    o.rtc_seconds = cpu.inb(0x71);
    cpu.outb(0x02, 0x70);
    o.rtc_minutes = cpu.inb(0x71);
    return o;
}

} // namespace

TEST_CASE("a restored machine behaves as the saved one") {
    Machine original(krr::test::small_machine_config(), {});
    FakeCpu a{original};
    program_devices(a);
    std::vector<krr::trace::DeviceState> states = original.save_devices();

    Machine restored(krr::test::small_machine_config(), {});
    restored.restore_devices(states);
    FakeCpu b{restored, a.icount};
    CHECK(restored.save_devices() == states);

    for (uint64_t step : {0ULL, 1000ULL, 2'000'000ULL, 300'000'000ULL}) {
        CAPTURE(step);
        a.run(step);
        b.run(step);
        Observation seen_a = observe(a);
        Observation seen_b = observe(b);
        CHECK(seen_a == seen_b);
        if (seen_a.pending) {
            CHECK(original.acknowledge_interrupt(0) == restored.acknowledge_interrupt(0));
            a.outb(0x20, 0x20);
            b.outb(0x20, 0x20);
            a.apic_write(0xb0, 0);
            b.apic_write(0xb0, 0);
        }
    }
    // And it was not a fresh machine's behaviour that matched.
    Machine fresh(krr::test::small_machine_config(), {});
    FakeCpu c{fresh, a.icount};
    c.run(0);
    CHECK_FALSE(observe(c) == observe(a));
}

TEST_CASE("malformed device states are errors") {
    Machine m(krr::test::small_machine_config(), {});
    std::vector<krr::trace::DeviceState> good = m.save_devices();

    auto broken = good;
    broken.pop_back();
    CHECK_THROWS_AS(m.restore_devices(broken), krr::Error); // missing

    broken = good;
    broken.push_back(good.front());
    CHECK_THROWS_AS(m.restore_devices(broken), krr::Error); // repeated

    broken = good;
    broken.push_back({"hpet", {1}});
    CHECK_THROWS_AS(m.restore_devices(broken), krr::Error); // unknown

    for (size_t i = 0; i < good.size(); ++i) {
        CAPTURE(good[i].name);
        broken = good;
        broken[i].data.pop_back();
        CHECK_THROWS_AS(m.restore_devices(broken), krr::Error); // truncated
        broken = good;
        broken[i].data.push_back(0);
        CHECK_THROWS_AS(m.restore_devices(broken), krr::Error); // trailing bytes
        broken = good;
        broken[i].data[0] = 99;
        CHECK_THROWS_AS(m.restore_devices(broken), krr::Error); // version
    }

    broken = good;
    for (auto& state : broken)
        if (state.name == "pit")
            state.data[1 + 8] = 7; // channel 0's mode
    CHECK_THROWS_AS(m.restore_devices(broken), krr::Error);
}
