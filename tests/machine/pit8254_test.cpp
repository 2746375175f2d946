// The PIT as the kernel uses it. The calibration loops follow
// pit_calibrate_tsc() and quick_pit_calibrate()/pit_expect_msb() in Linux
// 6.1's arch/x86/kernel/tsc.c; the expected results follow from the
// documented rates (PIT 1.193182 MHz, TSC 1 GHz), not from the model.
#include "machine_fixture.h"

#include <doctest/doctest.h>

using krr::Machine;
using krr::test::FakeCpu;
using krr::test::kPitHz;

namespace {

constexpr unsigned kPitTickRate = 1193182;

// pit_calibrate_tsc(latch, ms, loopmin): TSC kHz, or 0 on failure.
uint64_t pit_calibrate_tsc(FakeCpu& cpu, uint32_t latch, uint64_t ms, int loopmin) {
    cpu.outb((cpu.inb(0x61) & ~0x02) | 0x01, 0x61);
    cpu.outb(0xb0, 0x43);
    cpu.outb(latch & 0xff, 0x42);
    cpu.outb(latch >> 8, 0x42);
    uint64_t tsc = cpu.rdtsc(), t1 = tsc, t2 = tsc;
    int pitcnt = 0;
    uint64_t tscmin = ~uint64_t(0), tscmax = 0;
    while ((cpu.inb(0x61) & 0x20) == 0) {
        t2 = cpu.rdtsc();
        uint64_t delta = t2 - tsc;
        tsc = t2;
        tscmin = std::min(tscmin, delta);
        tscmax = std::max(tscmax, delta);
        ++pitcnt;
        if (pitcnt > 10'000'000)
            return 0; // a PIT that never counts
    }
    if (pitcnt < loopmin || tscmax > 10 * tscmin)
        return 0;
    return (t2 - t1) / ms;
}

bool pit_verify_msb(FakeCpu& cpu, uint8_t value) {
    cpu.inb(0x42);
    return cpu.inb(0x42) == value;
}

bool pit_expect_msb(FakeCpu& cpu, uint8_t value, uint64_t& tsc_out) {
    int count;
    uint64_t tsc = 0;
    for (count = 0; count < 50000; ++count) {
        if (!pit_verify_msb(cpu, value))
            break;
        tsc = cpu.rdtsc();
    }
    tsc_out = tsc;
    return count > 5;
}

} // namespace

TEST_CASE("pit_calibrate_tsc measures the 1 GHz TSC through channel 2 and port 0x61") {
    Machine machine(krr::test::small_machine_config(), {});
    FakeCpu cpu{machine};
    uint64_t khz = pit_calibrate_tsc(cpu, kPitTickRate / 100, 10, 1000);
    INFO("measured " << khz << " kHz");
    CHECK(khz > 999'000);
    CHECK(khz < 1'001'000);
}

TEST_CASE("quick_pit_calibrate sees the MSB fall once every 256 PIT ticks") {
    Machine machine(krr::test::small_machine_config(), {});
    FakeCpu cpu{machine};
    cpu.outb((cpu.inb(0x61) & ~0x02) | 0x01, 0x61);
    cpu.outb(0xb0, 0x43);
    cpu.outb(0xff, 0x42);
    cpu.outb(0xff, 0x42);
    pit_verify_msb(cpu, 0);
    uint64_t first = 0;
    REQUIRE(pit_expect_msb(cpu, 0xff, first));
    const int iterations = 40;
    uint64_t last = 0;
    for (int i = 1; i <= iterations; ++i) {
        CAPTURE(i);
        REQUIRE(pit_expect_msb(cpu, uint8_t(0xff - i), last));
    }
    // The kernel's formula: delta * PIT_TICK_RATE / (i * 256 * 1000).
    uint64_t khz = (last - first) * kPitTickRate / (iterations * 256 * 1000);
    INFO("measured " << khz << " kHz");
    CHECK(khz > 999'000);
    CHECK(khz < 1'001'000);
}

TEST_CASE("latched and read-back counts follow the documented count-down rate") {
    Machine machine(krr::test::small_machine_config(), {});
    FakeCpu cpu{machine};
    cpu.instructions_per_access = 1;
    cpu.outb(0x34, 0x43); // channel 0, lobyte/hibyte, mode 2
    cpu.outb(0x00, 0x40);
    cpu.outb(0x10, 0x40); // 0x1000
    uint64_t written_ns = cpu.icount * krr::test::kNsPerInstruction;
    // Run 1 ms: 1193.182 ticks, minus the tick that loads the count.
    cpu.run(1'000'000 / krr::test::kNsPerInstruction);
    cpu.outb(0x00, 0x43); // latch channel 0
    uint64_t latched_ns = (cpu.icount) * krr::test::kNsPerInstruction;
    uint8_t lo = cpu.inb(0x40);
    uint8_t hi = cpu.inb(0x40);
    uint32_t count = uint32_t(hi) << 8 | lo;
    double ticks =
        double(latched_ns) * kPitTickRate / 1e9 - double(written_ns) * kPitTickRate / 1e9;
    INFO("count " << count << " after " << ticks << " ticks");
    CHECK(double(0x1000) - count >= ticks - 2);
    CHECK(double(0x1000) - count <= ticks + 1);
    // Read-back status of channel 0: OUT high, count loaded, lobyte/hibyte, mode 2.
    cpu.outb(0xe2, 0x43);
    CHECK(cpu.inb(0x40) == 0xb4);
}

TEST_CASE("channel 0 in mode 2 at HZ=250 interrupts 250 times a second through the 8259") {
    Machine machine(krr::test::small_machine_config(), {});
    FakeCpu cpu{machine};
    // init_8259A(): ICW1-4 on both chips, IRQ 0 unmasked.
    cpu.outb(0x11, 0x20);
    cpu.outb(0x30, 0x21);
    cpu.outb(0x04, 0x21);
    cpu.outb(0x01, 0x21);
    cpu.outb(0x11, 0xa0);
    cpu.outb(0x38, 0xa1);
    cpu.outb(0x02, 0xa1);
    cpu.outb(0x01, 0xa1);
    cpu.outb(0xfe, 0x21);
    cpu.outb(0xff, 0xa1);
    // The local APIC passes the 8259 through LINT0 (virtual wire mode).
    cpu.apic_write(0xf0, 0x1ff);
    cpu.apic_write(0x350, 0x700);
    // pit_set_periodic(): mode 2, LATCH = (PIT_TICK_RATE + HZ/2) / HZ.
    uint32_t latch = (kPitTickRate + 125) / 250;
    cpu.outb(0x34, 0x43);
    cpu.outb(latch & 0xff, 0x40);
    cpu.outb(latch >> 8, 0x40);
    uint64_t start = cpu.icount;
    uint64_t one_second = 1'000'000'000 / krr::test::kNsPerInstruction;
    int interrupts = 0;
    while (cpu.icount < start + one_second) {
        // A halted CPU: skip to the next timer event.
        auto deadline = machine.next_timer_deadline();
        REQUIRE(deadline.has_value());
        REQUIRE(*deadline > cpu.icount);
        cpu.run(*deadline - cpu.icount);
        auto vector = machine.pending_interrupt(0, true);
        REQUIRE(vector.has_value());
        CHECK(*vector == 0x30);
        CHECK(machine.acknowledge_interrupt(0) == 0x30);
        cpu.outb(0x20, 0x20); // non-specific EOI
        ++interrupts;
    }
    CHECK(interrupts >= 249);
    CHECK(interrupts <= 251);
}

TEST_CASE("IRQ 0 reaches the local APIC through I/O APIC pin 2, as the MP table says") {
    Machine machine(krr::test::small_machine_config(), {});
    FakeCpu cpu{machine};
    cpu.apic_write(0xf0, 0x1ff);
    // Pin 2: vector 0x30, edge, fixed, physical destination 0.
    machine.mmio_write(0, 0xfec00000, 4, 0x15);
    machine.mmio_write(0, 0xfec00010, 4, 0);
    machine.mmio_write(0, 0xfec00000, 4, 0x14);
    machine.mmio_write(0, 0xfec00010, 4, 0x30);
    // pit_set_oneshot() then pit_next_event(): mode 4, 1193 ticks (1 ms).
    cpu.outb(0x38, 0x43);
    cpu.outb(1193 & 0xff, 0x40);
    cpu.outb(1193 >> 8, 0x40);
    uint64_t written = cpu.icount;
    auto deadline = machine.next_timer_deadline();
    REQUIRE(deadline.has_value());
    // Mode 4: OUT pulses low at terminal count, N + 1 ticks after the write;
    // the rising edge after it (one more tick) is what the I/O APIC sees.
    double expected_ns = (1193 + 2) / kPitHz * 1e9;
    double got_ns = double(*deadline - written) * krr::test::kNsPerInstruction;
    CHECK(got_ns > expected_ns - 1000);
    CHECK(got_ns < expected_ns + 1000);
    cpu.run(*deadline - 1 - cpu.icount);
    CHECK_FALSE(machine.pending_interrupt(0, true).has_value());
    cpu.run(1);
    CHECK(machine.pending_interrupt(0, true) == 0x30);
    machine.acknowledge_interrupt(0);
    cpu.apic_write(0xb0, 0);
    // One shot only.
    CHECK_FALSE(machine.next_timer_deadline().has_value());
}

TEST_CASE("mode 0 on channel 2 raises OUT2 in port 0x61 after N + 1 ticks, and gating stops it") {
    Machine machine(krr::test::small_machine_config(), {});
    FakeCpu cpu{machine};
    cpu.instructions_per_access = 1;
    cpu.outb(0x00, 0x61); // gate low
    cpu.outb(0xb0, 0x43);
    cpu.outb(100, 0x42);
    cpu.outb(0, 0x42);
    cpu.run(uint64_t(200 / kPitHz * 1e9) / krr::test::kNsPerInstruction);
    CHECK((cpu.inb(0x61) & 0x20) == 0); // gate low: no counting
    cpu.outb(0x01, 0x61);               // gate high: count
    uint64_t gated_at = cpu.icount;
    cpu.run(uint64_t(99 / kPitHz * 1e9) / krr::test::kNsPerInstruction);
    CHECK((cpu.inb(0x61) & 0x20) == 0);
    cpu.run(gated_at + uint64_t(102 / kPitHz * 1e9) / krr::test::kNsPerInstruction - cpu.icount);
    CHECK((cpu.inb(0x61) & 0x20) != 0);
}
