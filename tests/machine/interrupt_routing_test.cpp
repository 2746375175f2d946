// Device IRQ lines through the I/O APIC to local APICs, IPIs between local
// APICs, and the 8259 probe the kernel does, all through the machine's
// buses as the guest would reach them.
#include "machine_fixture.h"

#include <doctest/doctest.h>

using krr::Machine;
using krr::test::FakeCpu;

namespace {

constexpr uint64_t kIoApic = 0xfec00000;

void ioapic_write(Machine& m, uint8_t reg, uint32_t value) {
    m.mmio_write(0, kIoApic, 4, reg);
    m.mmio_write(0, kIoApic + 0x10, 4, value);
}

uint32_t ioapic_read(Machine& m, uint8_t reg) {
    m.mmio_write(0, kIoApic, 4, reg);
    return uint32_t(m.mmio_read(0, kIoApic + 0x10, 4));
}

void route_pin(Machine& m, unsigned pin, uint32_t low, uint8_t destination) {
    ioapic_write(m, uint8_t(0x11 + 2 * pin), uint32_t(destination) << 24);
    ioapic_write(m, uint8_t(0x10 + 2 * pin), low);
}

// COM1 with its receive interrupt enabled and OUT2 set: IRQ 4 follows "data waiting".
void enable_uart_rx_irq(Machine& m) {
    m.io_write(0, 0x3f9, 1, 0x01);
    m.io_write(0, 0x3fc, 1, 0x08);
}

} // namespace

TEST_CASE("I/O APIC identification registers") {
    Machine m(krr::test::small_machine_config(), {});
    CHECK((ioapic_read(m, 0) >> 24) == 1);           // ID: after the one CPU's APIC ID 0
    CHECK((ioapic_read(m, 1) & 0xff) == 0x11);       // version
    CHECK(((ioapic_read(m, 1) >> 16) & 0xff) == 23); // 24 pins
    CHECK(ioapic_read(m, 0x10) == 0x10000);          // masked at reset
}

TEST_CASE("an edge-triggered ISA IRQ reaches the local APIC unless masked") {
    Machine m(krr::test::small_machine_config(), {});
    m.mmio_write(0, 0xfee000f0, 4, 0x1ff); // APIC software enable
    route_pin(m, 4, 0x10000 | 0x34, 0);    // masked
    enable_uart_rx_irq(m);
    const uint8_t byte[] = {'x'};
    m.console_input(byte);
    CHECK_FALSE(m.pending_interrupt(0, true).has_value()); // the edge is lost
    m.io_read(0, 0x3f8, 1);                                // drain: line drops
    route_pin(m, 4, 0x34, 0);                              // unmasked, edge, fixed
    m.console_input(byte);
    REQUIRE(m.pending_interrupt(0, true) == 0x34);
    CHECK_FALSE(m.pending_interrupt(0, false).has_value()); // IF clear
    CHECK(m.acknowledge_interrupt(0) == 0x34);
    CHECK(m.local_apic(0).in_isr(0x34));
    m.mmio_write(0, 0xfee000b0, 4, 0);
    CHECK_FALSE(m.local_apic(0).in_isr(0x34));
    CHECK_THROWS_AS(m.acknowledge_interrupt(0), krr::Error);
}

TEST_CASE("a level-triggered IRQ holds Remote IRR until the EOI, then redelivers while asserted") {
    Machine m(krr::test::small_machine_config(), {});
    m.mmio_write(0, 0xfee000f0, 4, 0x1ff);
    route_pin(m, 4, (1u << 15) | 0x41, 0); // level triggered
    enable_uart_rx_irq(m);
    const uint8_t bytes[] = {'a', 'b'};
    m.console_input(bytes);
    REQUIRE(m.pending_interrupt(0, true) == 0x41);
    m.acknowledge_interrupt(0);
    CHECK((ioapic_read(m, 0x18) & (1u << 14)) != 0); // Remote IRR
    m.io_read(0, 0x3f8, 1);                          // 'a'; 'b' still waits
    m.mmio_write(0, 0xfee000b0, 4, 0);               // EOI: broadcast to the I/O APIC
    REQUIRE(m.pending_interrupt(0, true) == 0x41);   // still asserted: again
    m.acknowledge_interrupt(0);
    m.io_read(0, 0x3f8, 1); // 'b': the line drops
    m.mmio_write(0, 0xfee000b0, 4, 0);
    CHECK((ioapic_read(m, 0x18) & (1u << 14)) == 0);
    CHECK_FALSE(m.pending_interrupt(0, true).has_value());
}

TEST_CASE("logical flat destinations and IPIs between two vCPUs, INIT and STARTUP as requests") {
    krr::MachineConfig config = krr::test::small_machine_config();
    config.vcpus = 2;
    Machine m(config, {});
    for (unsigned cpu = 0; cpu < 2; ++cpu) {
        m.mmio_write(cpu, 0xfee000f0, 4, 0x1ff);
        m.mmio_write(cpu, 0xfee000e0, 4, 0xffffffff);        // flat model
        m.mmio_write(cpu, 0xfee000d0, 4, (1u << cpu) << 24); // logical ID bit
    }
    CHECK(m.mmio_read(1, 0xfee00020, 4) == 1u << 24); // each vCPU sees its own APIC
    // I/O APIC pin 4, logical destination mask 0x02: vCPU 1 only.
    route_pin(m, 4, (1u << 11) | 0x35, 0x02);
    enable_uart_rx_irq(m);
    const uint8_t byte[] = {'x'};
    m.console_input(byte);
    CHECK_FALSE(m.pending_interrupt(0, true).has_value());
    CHECK(m.pending_interrupt(1, true) == 0x35);

    // Fixed IPI from vCPU 0 to APIC ID 1, vector 0xfd.
    m.mmio_write(0, 0xfee00310, 4, 1u << 24);
    m.mmio_write(0, 0xfee00300, 4, 0xfd);
    CHECK(m.local_apic(1).in_irr(0xfd));
    // All-excluding-self NMI.
    m.mmio_write(0, 0xfee00300, 4, (3u << 18) | (4u << 8));
    CHECK(m.take_apic_requests(1).nmi);
    CHECK_FALSE(m.take_apic_requests(0).nmi);
    // INIT then STARTUP at vector 0x9a (code at 0x9a000).
    m.mmio_write(0, 0xfee00310, 4, 1u << 24);
    m.mmio_write(0, 0xfee00300, 4, (1u << 14) | (5u << 8));
    m.mmio_write(0, 0xfee00300, 4, (6u << 8) | 0x9a);
    krr::ApicRequests requests = m.take_apic_requests(1);
    CHECK(requests.init);
    REQUIRE(requests.startup_vector.has_value());
    CHECK(*requests.startup_vector == 0x9a);
    CHECK_FALSE(m.take_apic_requests(1).any());
}

TEST_CASE("the kernel's probe_8259A finds a PIC") {
    Machine m(krr::test::small_machine_config(), {});
    // Mask everything but the cascade on the master, read it back.
    m.io_write(0, 0xa1, 1, 0xff);
    m.io_write(0, 0x21, 1, 0xfb);
    CHECK(m.io_read(0, 0x21, 1) == 0xfb);
}

TEST_CASE("an I/O APIC entry in ExtINT mode hands the 8259's vector to the CPU") {
    Machine m(krr::test::small_machine_config(), {});
    FakeCpu cpu{m};
    cpu.outb(0x11, 0x20);
    cpu.outb(0x30, 0x21);
    cpu.outb(0x04, 0x21);
    cpu.outb(0x01, 0x21);
    cpu.outb(0xfe, 0x21); // IRQ 0 only
    cpu.apic_write(0xf0, 0x1ff);
    // LINT0 masked: the PIC reaches the CPU only through the I/O APIC's
    // ExtINT entry (pin 2 here, driven by IRQ 0).
    cpu.apic_write(0x350, 0x10700);
    route_pin(m, 2, 0x700, 0);
    cpu.outb(0x30, 0x43); // PIT channel 0, mode 0, count 100
    cpu.outb(100, 0x40);
    cpu.outb(0, 0x40);
    auto deadline = m.next_timer_deadline();
    REQUIRE(deadline.has_value());
    cpu.run(*deadline - cpu.icount);
    REQUIRE(m.pending_interrupt(0, true) == 0x30);
    CHECK(m.acknowledge_interrupt(0) == 0x30);
    CHECK_FALSE(m.local_apic(0).extint_requested());
}
