// The CMOS clock as mc146818_get_time() reads it. Expected dates come from
// `date -u -d @SECONDS` (GNU coreutils), not from the model.
#include "recorder/devices/cmos_rtc.h"

#include <doctest/doctest.h>

using krr::CmosRtc;

namespace {

constexpr uint64_t kSecond = 1'000'000'000;

uint8_t reg(CmosRtc& rtc, uint8_t index) {
    rtc.write(0, 1, index);
    return uint8_t(rtc.read(1, 1));
}

void set_reg(CmosRtc& rtc, uint8_t index, uint8_t value) {
    rtc.write(0, 1, index);
    rtc.write(1, 1, value);
}

} // namespace

TEST_CASE("the RTC shows the configured start time plus virtual seconds, in BCD") {
    CmosRtc rtc(1735689600, {});                  // Wed Jan  1 00:00:00 UTC 2025
    rtc.advance_to(3661 * kSecond + kSecond / 2); // 2025-01-01 01:01:01 Wed
    CHECK(reg(rtc, 0x00) == 0x01);
    CHECK(reg(rtc, 0x02) == 0x01);
    CHECK(reg(rtc, 0x04) == 0x01);
    CHECK(reg(rtc, 0x06) == 4); // Sunday = 1
    CHECK(reg(rtc, 0x07) == 0x01);
    CHECK(reg(rtc, 0x08) == 0x01);
    CHECK(reg(rtc, 0x09) == 0x25);
    CHECK(reg(rtc, 0x32) == 0x20);
    CHECK(reg(rtc, 0x0d) == 0x80); // battery good
}

TEST_CASE("leap days, binary mode and 12-hour mode") {
    CmosRtc rtc(1709164800, {}); // Thu Feb 29 00:00:00 UTC 2024
    rtc.advance_to(13 * 3600 * kSecond);
    set_reg(rtc, 0x0b, 0x04); // binary, 12-hour
    CHECK(reg(rtc, 0x07) == 29);
    CHECK(reg(rtc, 0x08) == 2);
    CHECK(reg(rtc, 0x09) == 24);
    CHECK(reg(rtc, 0x04) == (0x80 | 1)); // 1 PM
    CHECK(reg(rtc, 0x06) == 5);          // Thursday
    set_reg(rtc, 0x0b, 0x02);            // BCD, 24-hour
    CHECK(reg(rtc, 0x04) == 0x13);
    rtc.advance_to(24 * 3600 * kSecond);
    CHECK(reg(rtc, 0x07) == 0x01);
    CHECK(reg(rtc, 0x08) == 0x03);
}

TEST_CASE("calendar conversion agrees with date(1) on a century leap day") {
    krr::CalendarTime t = krr::calendar_from_unix(951782400); // 2000-02-29 Tue
    CHECK(t.year == 2000);
    CHECK(t.month == 2);
    CHECK(t.day == 29);
    CHECK(t.weekday == 2);
    CHECK(krr::unix_from_calendar(t) == 951782400);
}

TEST_CASE("update-in-progress is set only in the 244 us before each second") {
    CmosRtc rtc(0, {});
    rtc.advance_to(kSecond - 300'000);
    CHECK((reg(rtc, 0x0a) & 0x80) == 0);
    rtc.advance_to(kSecond - 200'000);
    CHECK((reg(rtc, 0x0a) & 0x80) != 0);
    CHECK(reg(rtc, 0x00) == 0x00);
    rtc.advance_to(kSecond);
    CHECK((reg(rtc, 0x0a) & 0x80) == 0);
    CHECK(reg(rtc, 0x00) == 0x01);
    // The NMI mask bit of the index is ignored.
    CHECK(reg(rtc, 0x80) == 0x01);
}

TEST_CASE("a time set by the guest with SET runs on from the written value") {
    CmosRtc rtc(0, {});
    rtc.advance_to(5 * kSecond);
    set_reg(rtc, 0x0b, 0x82); // SET, 24-hour, BCD
    set_reg(rtc, 0x09, 0x30);
    set_reg(rtc, 0x32, 0x20);
    set_reg(rtc, 0x08, 0x06);
    set_reg(rtc, 0x07, 0x15);
    set_reg(rtc, 0x04, 0x12);
    set_reg(rtc, 0x02, 0x00);
    set_reg(rtc, 0x00, 0x00);
    rtc.advance_to(7 * kSecond);
    CHECK(reg(rtc, 0x00) == 0x00); // stopped while SET
    set_reg(rtc, 0x0b, 0x02);
    rtc.advance_to(9 * kSecond);
    CHECK(reg(rtc, 0x00) == 0x02);
    CHECK(reg(rtc, 0x04) == 0x12);
    CHECK(reg(rtc, 0x07) == 0x15);
    CHECK(rtc.unix_time() == 1907755202); // date -u -d '2030-06-15 12:00:02' +%s
}

TEST_CASE("update-ended interrupts pulse IRQ 8 once a second and register C acknowledges") {
    int pulses = 0;
    CmosRtc rtc(0, [&](bool level) { pulses += level ? 1 : 0; });
    CHECK_FALSE(rtc.next_deadline().has_value());
    set_reg(rtc, 0x0b, 0x12); // UIE
    REQUIRE(rtc.next_deadline() == kSecond);
    rtc.advance_to(kSecond);
    CHECK(pulses == 1);
    // IRQF and UF; PF may be set too (it runs whether or not PIE enables it).
    uint8_t flags = reg(rtc, 0x0c);
    CHECK((flags & 0xb0) == 0x90);
    CHECK(reg(rtc, 0x0c) == 0x00);
    rtc.advance_to(2 * kSecond);
    CHECK(pulses == 2);
}

TEST_CASE("the alarm fires when the time matches, with don't-care bytes") {
    int pulses = 0;
    CmosRtc rtc(1735689600, [&](bool level) { pulses += level ? 1 : 0; }); // 00:00:00
    set_reg(rtc, 0x01, 0x05);                                              // seconds alarm 05
    set_reg(rtc, 0x03, 0xc0);                                              // any minute
    set_reg(rtc, 0x05, 0xc0);                                              // any hour
    set_reg(rtc, 0x0b, 0x22);                                              // AIE
    for (uint64_t s = 1; s <= 4; ++s)
        rtc.advance_to(s * kSecond);
    CHECK(pulses == 0);
    rtc.advance_to(5 * kSecond);
    CHECK(pulses == 1);
    CHECK((reg(rtc, 0x0c) & 0xa0) == 0xa0);
    rtc.advance_to(6 * kSecond);
    CHECK(pulses == 1);
}
