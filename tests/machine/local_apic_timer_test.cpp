// The local APIC timer at the documented 1 GHz bus clock: one tick per
// nanosecond before the divider.
#include "recorder/devices/local_apic.h"

#include <doctest/doctest.h>

using krr::LocalApic;

namespace {

constexpr uint32_t kSvr = 0xf0, kLvtTimer = 0x320, kInitial = 0x380, kCurrent = 0x390,
                   kDivide = 0x3e0, kEoi = 0xb0;

void put(LocalApic& apic, uint32_t offset, uint32_t value) {
    apic.write(offset, 4, value);
}
uint32_t get(LocalApic& apic, uint32_t offset) {
    return uint32_t(apic.read(offset, 4));
}

} // namespace

TEST_CASE("one-shot: divide by 16, 1000 counts expire after 16 us, once") {
    LocalApic apic(0, {});
    put(apic, kSvr, 0x1ff);
    put(apic, kDivide, 0x3); // divide by 16
    put(apic, kLvtTimer, 0xec);
    put(apic, kInitial, 1000);
    CHECK(apic.next_deadline() == 16'000);
    apic.advance_to(8'000);
    CHECK(get(apic, kCurrent) == 500);
    apic.advance_to(15'999);
    CHECK_FALSE(apic.pending_vector().has_value());
    apic.advance_to(16'000);
    CHECK(apic.pending_vector() == 0xec);
    CHECK(get(apic, kCurrent) == 0);
    CHECK_FALSE(apic.next_deadline().has_value());
    CHECK(apic.acknowledge() == 0xec);
    put(apic, kEoi, 0);
    apic.advance_to(100'000);
    CHECK_FALSE(apic.pending_vector().has_value());
}

TEST_CASE("periodic: divide by 1 reloads every initial count") {
    LocalApic apic(0, {});
    put(apic, kSvr, 0x1ff);
    put(apic, kDivide, 0xb); // divide by 1
    put(apic, kLvtTimer, (1u << 17) | 0xef);
    put(apic, kInitial, 4'000'000); // 4 ms: one HZ=250 tick
    for (uint64_t tick = 1; tick <= 3; ++tick) {
        CAPTURE(tick);
        REQUIRE(apic.next_deadline() == tick * 4'000'000);
        apic.advance_to(tick * 4'000'000 - 1);
        CHECK_FALSE(apic.pending_vector().has_value());
        apic.advance_to(tick * 4'000'000);
        REQUIRE(apic.pending_vector() == 0xef);
        apic.acknowledge();
        put(apic, kEoi, 0);
    }
    apic.advance_to(13'000'000);
    CHECK(get(apic, kCurrent) == 3'000'000);
}

TEST_CASE("a masked timer counts without interrupting; a software-disabled APIC masks LVTs") {
    LocalApic apic(0, {});
    put(apic, kLvtTimer, 0xec); // SVR still disabled: the write stays masked
    CHECK((get(apic, kLvtTimer) & (1u << 16)) != 0);
    put(apic, kSvr, 0x1ff);
    put(apic, kLvtTimer, (1u << 16) | 0xec);
    put(apic, kDivide, 0xb);
    put(apic, kInitial, 100);
    apic.advance_to(1000);
    CHECK_FALSE(apic.pending_vector().has_value());
    CHECK(get(apic, kCurrent) == 0);
}

TEST_CASE("priority: TPR and in-service vectors hold off lower classes") {
    LocalApic apic(0, {});
    put(apic, kSvr, 0x1ff);
    krr::ApicMessage m;
    m.vector = 0x41;
    apic.accept(m);
    m.vector = 0x62;
    apic.accept(m);
    put(apic, 0x80, 0x70); // TPR class 7
    CHECK_FALSE(apic.pending_vector().has_value());
    put(apic, 0x80, 0x00);
    CHECK(apic.acknowledge() == 0x62);
    CHECK(get(apic, 0xa0) == 0x60);                 // PPR
    CHECK_FALSE(apic.pending_vector().has_value()); // 0x41 is a lower class
    put(apic, kEoi, 0);
    CHECK(apic.pending_vector() == 0x41);
    // Vectors below 16 are illegal: ESR bit 6 after the next ESR write.
    m.vector = 5;
    apic.accept(m);
    put(apic, 0x280, 0);
    CHECK(get(apic, 0x280) == 0x40);
}
