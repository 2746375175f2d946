// SHL, SHR, SAR, SHLD, SHRD against the host CPU, every count 0..255.
#include "replay-engine/alu/shift.h"
#include "tests/alu/host_cpu.h"
#include "tests/alu/oracle_check.h"

#include <doctest/doctest.h>

using namespace krr::alu;
using namespace krr::alu::testing;

namespace {

constexpr int kRandomCases = 60000;

template <Operand T, class Model, class Cpu>
Tally compare_shift(const char* operation, Model model, Cpu cpu, uint64_t seed) {
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

template <Operand T, class Model, class Cpu>
Tally compare_double_shift(const char* operation, Model model, Cpu cpu, uint64_t seed) {
    Tally tally;
    auto check = [&](T destination, T source, uint8_t count, uint32_t status) {
        const AluResult<T> expected = model(destination, source, count);
        const host::Out<T> actual = cpu(destination, source, count, status);
        const bool value_defined = masked_shift_count<T>(count) <= kWidth<T>;
        tally.record(same_result(expected, destination, status, actual, value_defined), [&] {
            return describe(operation, {destination, source, count}, status, expected, destination,
                            actual);
        });
    };
    for (T destination : edge_values<T>()) {
        for (T source : edge_values<T>()) {
            for (unsigned count = 0; count < 256; ++count) {
                check(destination, source, static_cast<uint8_t>(count), 0);
                check(destination, source, static_cast<uint8_t>(count), kStatusFlags);
            }
        }
    }
    Operands operands(seed);
    for (int i = 0; i < kRandomCases; ++i) {
        const T destination = operands.next<T>();
        const T source = operands.next<T>();
        check(destination, source, operands.count(), operands.status());
    }
    return tally;
}

template <class T>
constexpr uint64_t kMinimumShiftCases = (sizeof(T) == 1 ? 256 : 16) * 256 * 4 + kRandomCases;
constexpr uint64_t kMinimumDoubleShiftCases = 16 * 16 * 256 * 2 + kRandomCases;

} // namespace

TEST_CASE_TEMPLATE("shl, shr and sar match the CPU for every count", T, uint8_t, uint16_t, uint32_t,
                   uint64_t) {
    SUBCASE("shl") {
        compare_shift<T>(
            "shl", [](T v, uint8_t c, uint32_t) { return shl(v, c); },
            [](T v, uint8_t c, uint32_t s) { return host::shl(v, c, s); }, 21)
            .require(kMinimumShiftCases<T>);
    }
    SUBCASE("shr") {
        compare_shift<T>(
            "shr", [](T v, uint8_t c, uint32_t) { return shr(v, c); },
            [](T v, uint8_t c, uint32_t s) { return host::shr(v, c, s); }, 22)
            .require(kMinimumShiftCases<T>);
    }
    SUBCASE("sar") {
        compare_shift<T>(
            "sar", [](T v, uint8_t c, uint32_t) { return sar(v, c); },
            [](T v, uint8_t c, uint32_t s) { return host::sar(v, c, s); }, 23)
            .require(kMinimumShiftCases<T>);
    }
}

TEST_CASE_TEMPLATE("shld and shrd match the CPU for every count", T, uint16_t, uint32_t, uint64_t) {
    SUBCASE("shld") {
        compare_double_shift<T>(
            "shld", [](T d, T s, uint8_t c) { return shld(d, s, c); },
            [](T d, T s, uint8_t c, uint32_t f) { return host::shld(d, s, c, f); }, 24)
            .require(kMinimumDoubleShiftCases);
    }
    SUBCASE("shrd") {
        compare_double_shift<T>(
            "shrd", [](T d, T s, uint8_t c) { return shrd(d, s, c); },
            [](T d, T s, uint8_t c, uint32_t f) { return host::shrd(d, s, c, f); }, 25)
            .require(kMinimumDoubleShiftCases);
    }
}

TEST_CASE("shift counts are masked and a zero count changes nothing") {
    CHECK(masked_shift_count<uint8_t>(0x21) == 1);
    CHECK(masked_shift_count<uint32_t>(0x20) == 0);
    CHECK(masked_shift_count<uint64_t>(0x40) == 0);
    CHECK(masked_shift_count<uint64_t>(0x3f) == 63);
    const AluResult<uint32_t> none = shl<uint32_t>(0x12345678, 32);
    CHECK(none.value == 0x12345678);
    CHECK(none.written == 0);
    // The one-bit cases, from the definitions.
    const AluResult<uint8_t> left = shl<uint8_t>(0x40, 1);
    CHECK(left.value == 0x80);
    CHECK(left.merged_into(0) == (kOverflowFlag | kSignFlag));
    CHECK((left.undefined & kOverflowFlag) == 0);
    const AluResult<uint16_t> right = sar<uint16_t>(0x8001, 1);
    CHECK(right.value == 0xc000);
    CHECK(right.merged_into(0) == (kSignFlag | kCarryFlag | kParityFlag));
}

TEST_CASE("every 16-bit value, every count: shl, shr and sar match the CPU") {
    using W = uint16_t;
    compare_every_word(
        "shl", [](W v, uint8_t c, uint32_t) { return shl(v, c); },
        [](W v, uint8_t c, uint32_t s) { return host::shl(v, c, s); })
        .require(65536 * 32);
    compare_every_word(
        "shr", [](W v, uint8_t c, uint32_t) { return shr(v, c); },
        [](W v, uint8_t c, uint32_t s) { return host::shr(v, c, s); })
        .require(65536 * 32);
    compare_every_word(
        "sar", [](W v, uint8_t c, uint32_t) { return sar(v, c); },
        [](W v, uint8_t c, uint32_t s) { return host::sar(v, c, s); })
        .require(65536 * 32);
}
