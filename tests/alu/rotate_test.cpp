// ROL, ROR, RCL, RCR against the host CPU, every count 0..255.
#include "replay-engine/alu/rotate.h"
#include "tests/alu/host_cpu.h"
#include "tests/alu/oracle_check.h"

#include <doctest/doctest.h>

using namespace krr::alu;
using namespace krr::alu::testing;

namespace {

constexpr int kRandomCases = 60000;

template <Operand T, class Model, class Cpu>
Tally compare_rotate(const char* operation, Model model, Cpu cpu, uint64_t seed) {
    Tally tally;
    auto check = [&](T value, uint8_t count, uint32_t status) {
        const AluResult<T> expected = model(value, count, status);
        const host::Out<T> actual = cpu(value, count, status);
        tally.record(same_result(expected, value, status, actual), [&] {
            return describe(operation, {value, count}, status, expected, value, actual);
        });
    };
    std::vector<T> values = edge_values<T>();
    if constexpr (sizeof(T) == 1) {
        values.clear();
        for (unsigned v = 0; v < 256; ++v) {
            values.push_back(static_cast<T>(v));
        }
    }
    for (T value : values) {
        for (unsigned count = 0; count < 256; ++count) {
            for (uint32_t status : kEdgeStatuses) {
                check(value, static_cast<uint8_t>(count), status);
            }
        }
    }
    Operands operands(seed);
    for (int i = 0; i < kRandomCases; ++i) {
        const T value = operands.next<T>();
        check(value, operands.count(), operands.status());
    }
    return tally;
}

template <class T>
constexpr uint64_t kMinimumRotateCases = (sizeof(T) == 1 ? 256 : 16) * 256 * 4 + kRandomCases;

} // namespace

TEST_CASE_TEMPLATE("rol, ror, rcl and rcr match the CPU for every count", T, uint8_t, uint16_t,
                   uint32_t, uint64_t) {
    SUBCASE("rol") {
        compare_rotate<T>(
            "rol", [](T v, uint8_t c, uint32_t) { return rol(v, c); },
            [](T v, uint8_t c, uint32_t s) { return host::rol(v, c, s); }, 31)
            .require(kMinimumRotateCases<T>);
    }
    SUBCASE("ror") {
        compare_rotate<T>(
            "ror", [](T v, uint8_t c, uint32_t) { return ror(v, c); },
            [](T v, uint8_t c, uint32_t s) { return host::ror(v, c, s); }, 32)
            .require(kMinimumRotateCases<T>);
    }
    SUBCASE("rcl") {
        compare_rotate<T>(
            "rcl", [](T v, uint8_t c, uint32_t s) { return rcl(v, c, s); },
            [](T v, uint8_t c, uint32_t s) { return host::rcl(v, c, s); }, 33)
            .require(kMinimumRotateCases<T>);
    }
    SUBCASE("rcr") {
        compare_rotate<T>(
            "rcr", [](T v, uint8_t c, uint32_t s) { return rcr(v, c, s); },
            [](T v, uint8_t c, uint32_t s) { return host::rcr(v, c, s); }, 34)
            .require(kMinimumRotateCases<T>);
    }
}

TEST_CASE("rotate counts: a whole turn still writes CF and OF, RCL by 9 on 8 bits does not") {
    const AluResult<uint8_t> whole = rol<uint8_t>(0x81, 8);
    CHECK(whole.value == 0x81);
    CHECK(whole.written == (kCarryFlag | kOverflowFlag));
    CHECK(rotate_through_carry_count<uint8_t>(9) == 0);
    CHECK(rotate_through_carry_count<uint16_t>(18) == 1);
    CHECK(rotate_through_carry_count<uint32_t>(33) == 1);
    const AluResult<uint8_t> ring = rcl<uint8_t>(0x81, 9, kCarryFlag);
    CHECK(ring.value == 0x81);
    CHECK(ring.written == 0);
    // RCR by one from the definition: CF into the sign, bit 0 out to CF.
    const AluResult<uint16_t> one = rcr<uint16_t>(0x0001, 1, kCarryFlag);
    CHECK(one.value == 0x8000);
    CHECK(one.merged_into(0) == (kCarryFlag | kOverflowFlag));
}

TEST_CASE("every 16-bit value, every count: rol, ror, rcl and rcr match the CPU") {
    using W = uint16_t;
    compare_every_word(
        "rol", [](W v, uint8_t c, uint32_t) { return rol(v, c); },
        [](W v, uint8_t c, uint32_t s) { return host::rol(v, c, s); })
        .require(65536 * 32);
    compare_every_word(
        "ror", [](W v, uint8_t c, uint32_t) { return ror(v, c); },
        [](W v, uint8_t c, uint32_t s) { return host::ror(v, c, s); })
        .require(65536 * 32);
    compare_every_word(
        "rcl", [](W v, uint8_t c, uint32_t s) { return rcl(v, c, s); },
        [](W v, uint8_t c, uint32_t s) { return host::rcl(v, c, s); })
        .require(65536 * 32);
    compare_every_word(
        "rcr", [](W v, uint8_t c, uint32_t s) { return rcr(v, c, s); },
        [](W v, uint8_t c, uint32_t s) { return host::rcr(v, c, s); })
        .require(65536 * 32);
}
