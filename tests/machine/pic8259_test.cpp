// The 8259 pair programmed the way Linux's init_8259A() does, then used in
// the ways mask_and_ack_8259A() and the spurious-IRQ check use it.
#include "recorder/devices/pic8259.h"

#include <doctest/doctest.h>

using krr::LegacyPic;

namespace {

void out(krr::BusDevice& ports, unsigned offset, uint8_t value) {
    ports.write(offset, 1, value);
}
uint8_t in(krr::BusDevice& ports, unsigned offset) {
    return uint8_t(ports.read(offset, 1));
}

void init_like_linux(LegacyPic& pic) {
    out(pic.master_ports(), 1, 0xff);
    out(pic.slave_ports(), 1, 0xff);
    out(pic.master_ports(), 0, 0x11); // ICW1: edge, cascade, ICW4
    out(pic.master_ports(), 1, 0x30); // ICW2: vectors 0x30-0x37
    out(pic.master_ports(), 1, 0x04); // ICW3: slave on IR2
    out(pic.master_ports(), 1, 0x01); // ICW4: 8086 mode, normal EOI
    out(pic.slave_ports(), 0, 0x11);
    out(pic.slave_ports(), 1, 0x38);
    out(pic.slave_ports(), 1, 0x02);
    out(pic.slave_ports(), 1, 0x01);
    out(pic.master_ports(), 1, 0xfb); // all masked but the cascade
    out(pic.slave_ports(), 1, 0xff);
}

} // namespace

TEST_CASE("vectors, masking, in-service priority and EOI on the master") {
    LegacyPic pic;
    init_like_linux(pic);
    pic.set_irq(1, true);
    CHECK_FALSE(pic.pending_vector().has_value()); // masked
    out(pic.master_ports(), 1, 0xf8);              // unmask 0, 1 (and 2)
    REQUIRE(pic.pending_vector() == 0x31);
    pic.set_irq(0, true);
    CHECK(pic.pending_vector() == 0x30); // IR0 has the highest priority
    CHECK(pic.acknowledge() == 0x30);
    CHECK_FALSE(pic.pending_vector().has_value()); // IR1 waits for IR0's EOI
    out(pic.master_ports(), 0, 0x0b);              // OCW3: read ISR
    CHECK(in(pic.master_ports(), 0) == 0x01);
    out(pic.master_ports(), 0, 0x20); // non-specific EOI
    CHECK(pic.acknowledge() == 0x31);
    out(pic.master_ports(), 0, 0x61); // specific EOI for IR1
    out(pic.master_ports(), 0, 0x0a); // OCW3: read IRR
    CHECK(in(pic.master_ports(), 0) == 0x00);
}

TEST_CASE("a slave IRQ cascades through master IR2") {
    LegacyPic pic;
    init_like_linux(pic);
    out(pic.slave_ports(), 1, 0xfe); // unmask IRQ 8
    pic.set_irq(8, true);
    REQUIRE(pic.pending_vector() == 0x38);
    CHECK(pic.acknowledge() == 0x38);
    out(pic.slave_ports(), 0, 0x0b);
    CHECK(in(pic.slave_ports(), 0) == 0x01);
    out(pic.slave_ports(), 0, 0x20);
    out(pic.master_ports(), 0, 0x20);
    CHECK_FALSE(pic.pending_vector().has_value());
}

TEST_CASE("edge triggering needs a new rising edge; nothing pending gives spurious IRQ 7") {
    LegacyPic pic;
    init_like_linux(pic);
    out(pic.master_ports(), 1, 0xfa); // unmask IRQ 0
    pic.set_irq(0, true);
    CHECK(pic.acknowledge() == 0x30);
    out(pic.master_ports(), 0, 0x20);
    CHECK_FALSE(pic.pending_vector().has_value()); // still high, no new edge
    CHECK(pic.acknowledge() == 0x37);              // spurious
    pic.set_irq(0, false);
    pic.set_irq(0, true);
    CHECK(pic.pending_vector() == 0x30);
}

TEST_CASE("poll mode returns the highest request and puts it in service") {
    LegacyPic pic;
    init_like_linux(pic);
    out(pic.master_ports(), 1, 0x00);
    pic.set_irq(3, true);
    out(pic.master_ports(), 0, 0x0c); // OCW3: poll
    CHECK(in(pic.master_ports(), 0) == 0x83);
    out(pic.master_ports(), 0, 0x0b);
    CHECK(in(pic.master_ports(), 0) == 0x08);
}
