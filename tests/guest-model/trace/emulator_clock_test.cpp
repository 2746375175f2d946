// The snapshot's emulator-clock entry: the one-vCPU form is the 8 bytes
// traces always had; the several-vCPU form round-trips and is parsed
// defensively (every truncation, a flipped byte, counts and versions).
#include "guest-model/byte_codec.h"
#include "guest-model/error.h"
#include "guest-model/trace/emulator_clock_state.h"

#include <doctest/doctest.h>

using namespace krr::trace;

namespace {

EmulatorClockState two_vcpus() {
    EmulatorClockState s;
    s.current = 1;
    s.vcpus.push_back({1234, false, false, 0, ~0ULL});
    s.vcpus.push_back({99, true, true, 2, 0xffffffff81000000ULL});
    return s;
}

} // namespace

TEST_CASE("one vCPU: the skipped time alone, as eight little-endian bytes") {
    EmulatorClockState s;
    s.vcpus.push_back({0x0102030405060708ULL, false, false, 0, ~0ULL});
    const std::vector<uint8_t> bytes = encode_emulator_clock(s);
    CHECK(bytes == std::vector<uint8_t>{8, 7, 6, 5, 4, 3, 2, 1});
    CHECK(decode_emulator_clock(bytes, 1, "clock") == s);
    std::vector<uint8_t> longer = bytes;
    longer.push_back(0);
    CHECK_THROWS_AS(decode_emulator_clock(longer, 1, "clock"), krr::Error);
}

TEST_CASE("several vCPUs round-trip; every truncation and bad field is an error") {
    const EmulatorClockState s = two_vcpus();
    const std::vector<uint8_t> bytes = encode_emulator_clock(s);
    CHECK(decode_emulator_clock(bytes, 2, "clock") == s);
    for (size_t n = 0; n < bytes.size(); ++n) {
        std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
        CHECK_THROWS_AS(decode_emulator_clock(cut, 2, "clock"), krr::Error);
    }
    // A snapshot with another vCPU count.
    CHECK_THROWS_AS(decode_emulator_clock(bytes, 3, "clock"), krr::Error);
    // The version byte follows vCPU 0's skipped time.
    std::vector<uint8_t> version = bytes;
    version[8] = 7;
    CHECK_THROWS_AS(decode_emulator_clock(version, 2, "clock"), krr::Error);
    // vCPU 0's skipped time stored twice must agree.
    std::vector<uint8_t> disagree = bytes;
    disagree[0] ^= 1;
    CHECK_THROWS_AS(decode_emulator_clock(disagree, 2, "clock"), krr::Error);
    // The current vCPU must exist.
    EmulatorClockState bad_current = s;
    bad_current.current = 2;
    CHECK_THROWS_AS(decode_emulator_clock(encode_emulator_clock(bad_current), 2, "clock"),
                    krr::Error);
    // Every single flipped byte either decodes to something else or is refused,
    // never crashes.
    for (size_t i = 0; i < bytes.size(); ++i) {
        std::vector<uint8_t> flipped = bytes;
        flipped[i] ^= 0x80;
        bool refused = false;
        EmulatorClockState decoded;
        try {
            decoded = decode_emulator_clock(flipped, 2, "clock");
        } catch (const krr::Error&) {
            refused = true;
        }
        CHECK((refused || decoded != s));
    }
}
