// The `undefined` masks, checked by hand against the manuals' flag tables.
// On an Intel host the oracle tests compare every flag and do not depend on
// them; on any other host they decide what is compared, so they must be
// right on their own.
#include "replay-engine/alu/alu.h"

#include <doctest/doctest.h>

using namespace krr::alu;

TEST_CASE("fully defined instructions report no undefined flag") {
    CHECK(add<uint8_t>(1, 2).undefined == 0);
    CHECK(adc<uint16_t>(1, 2, kCarryFlag).undefined == 0);
    CHECK(sub<uint32_t>(1, 2).undefined == 0);
    CHECK(sbb<uint64_t>(1, 2, 0).undefined == 0);
    CHECK(cmp<uint8_t>(1, 2).undefined == 0);
    CHECK(neg<uint8_t>(1).undefined == 0);
    CHECK(inc<uint8_t>(1).undefined == 0);
    CHECK(dec<uint8_t>(1).undefined == 0);
    CHECK(not_<uint8_t>(1).undefined == 0);
}

TEST_CASE("logic: AF") {
    CHECK(and_<uint32_t>(1, 2).undefined == kAdjustFlag);
    CHECK(or_<uint32_t>(1, 2).undefined == kAdjustFlag);
    CHECK(xor_<uint32_t>(1, 2).undefined == kAdjustFlag);
    CHECK(test<uint32_t>(1, 2).undefined == kAdjustFlag);
}

TEST_CASE("shifts: AF always, OF beyond one bit, CF from the width on") {
    CHECK(shl<uint8_t>(1, 1).undefined == kAdjustFlag);
    CHECK(shl<uint8_t>(1, 2).undefined == (kAdjustFlag | kOverflowFlag));
    CHECK(shl<uint8_t>(1, 8).undefined == (kAdjustFlag | kOverflowFlag | kCarryFlag));
    CHECK(shr<uint16_t>(1, 16).undefined == (kAdjustFlag | kOverflowFlag | kCarryFlag));
    CHECK(shr<uint16_t>(1, 15).undefined == (kAdjustFlag | kOverflowFlag));
    CHECK(sar<uint8_t>(1, 9).undefined == (kAdjustFlag | kOverflowFlag));
    CHECK(shl<uint64_t>(1, 63).undefined == (kAdjustFlag | kOverflowFlag));
    CHECK(shld<uint32_t>(1, 2, 1).undefined == kAdjustFlag);
    CHECK(shrd<uint64_t>(1, 2, 5).undefined == (kAdjustFlag | kOverflowFlag));
    CHECK(shld<uint16_t>(1, 2, 16).undefined == (kAdjustFlag | kOverflowFlag));
    CHECK(shld<uint16_t>(1, 2, 17).undefined == kStatusFlags);
    CHECK(shrd<uint16_t>(1, 2, 31).undefined == kStatusFlags);
}

TEST_CASE("rotates: OF beyond one bit") {
    CHECK(rol<uint8_t>(1, 1).undefined == 0);
    CHECK(rol<uint8_t>(1, 2).undefined == kOverflowFlag);
    CHECK(ror<uint32_t>(1, 31).undefined == kOverflowFlag);
    CHECK(rcl<uint16_t>(1, 1, 0).undefined == 0);
    CHECK(rcr<uint64_t>(1, 3, 0).undefined == kOverflowFlag);
}

TEST_CASE("multiply, divide, bit scan and bit test") {
    const uint32_t szap = kSignFlag | kZeroFlag | kAdjustFlag | kParityFlag;
    CHECK(mul<uint32_t>(3, 4).undefined == szap);
    CHECK(imul_widening<uint8_t>(3, 4).undefined == szap);
    CHECK(imul_truncating<uint64_t>(3, 4).undefined == szap);
    CHECK(div<uint16_t>(0, 9, 2).undefined == kStatusFlags);
    CHECK(idiv<uint16_t>(0, 9, 2).undefined == kStatusFlags);
    CHECK(bsf<uint32_t>(0, 8).undefined == (kStatusFlags & ~kZeroFlag));
    CHECK(bsr<uint32_t>(0, 0).undefined == (kStatusFlags & ~kZeroFlag));
    const uint32_t osap = kOverflowFlag | kSignFlag | kAdjustFlag | kParityFlag;
    CHECK(bt<uint16_t>(1, 0).undefined == osap);
    CHECK(bts<uint32_t>(1, 0).undefined == osap);
    CHECK(btr<uint64_t>(1, 0).undefined == osap);
    CHECK(btc<uint64_t>(1, 0).undefined == osap);
}

TEST_CASE("what each instruction writes") {
    CHECK(inc<uint8_t>(1).written == (kStatusFlags & ~kCarryFlag));
    CHECK(rol<uint8_t>(1, 3).written == (kCarryFlag | kOverflowFlag));
    CHECK(bt<uint32_t>(1, 3).written == kCarryFlag);
    CHECK(div<uint32_t>(0, 1, 1).written == 0);
    CHECK(shl<uint32_t>(1, 0).written == 0);
    CHECK(mul<uint8_t>(1, 1).written == kStatusFlags);
    CHECK(bsf<uint16_t>(1, 0).written == kStatusFlags);
}
