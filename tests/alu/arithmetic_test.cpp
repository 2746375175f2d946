// ADD, ADC, SUB, SBB, CMP, XADD, NEG, INC, DEC against the host CPU.
#include "replay-engine/alu/arithmetic.h"
#include "tests/alu/host_cpu.h"
#include "tests/alu/oracle_check.h"

#include <doctest/doctest.h>

using namespace krr::alu;
using namespace krr::alu::testing;

namespace {

constexpr int kRandomCases = 40000;
// 8-bit operands run exhaustively under two statuses.
template <class T>
constexpr uint64_t kMinimumBinaryCases = sizeof(T) == 1 ? 2 * 65536 + kRandomCases
                                                        : 1024 + kRandomCases;
template <class T>
constexpr uint64_t kMinimumUnaryCases = sizeof(T) == 1 ? 4 * 256 + kRandomCases : 64 + kRandomCases;

} // namespace

TEST_CASE_TEMPLATE("add, adc, sub, sbb, cmp and xadd match the CPU", T, uint8_t, uint16_t, uint32_t,
                   uint64_t) {
    SUBCASE("add") {
        compare_binary<T>(
            "add", [](T a, T b, uint32_t) { return add(a, b); },
            [](T a, T b, uint32_t s) { return host::add(a, b, s); }, 1, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
    SUBCASE("adc") {
        compare_binary<T>(
            "adc", [](T a, T b, uint32_t s) { return adc(a, b, s); },
            [](T a, T b, uint32_t s) { return host::adc(a, b, s); }, 2, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
    SUBCASE("sub") {
        compare_binary<T>(
            "sub", [](T a, T b, uint32_t) { return sub(a, b); },
            [](T a, T b, uint32_t s) { return host::sub(a, b, s); }, 3, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
    SUBCASE("sbb") {
        compare_binary<T>(
            "sbb", [](T a, T b, uint32_t s) { return sbb(a, b, s); },
            [](T a, T b, uint32_t s) { return host::sbb(a, b, s); }, 4, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
    SUBCASE("cmp") {
        compare_binary<T>(
            "cmp", [](T a, T b, uint32_t) { return cmp(a, b); },
            [](T a, T b, uint32_t s) { return host::cmp(a, b, s); }, 5, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
    SUBCASE("xadd") {
        compare_binary<T>(
            "xadd", [](T a, T b, uint32_t) { return xadd(a, b); },
            [](T a, T b, uint32_t s) { return host::xadd(a, b, s); }, 6, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
}

TEST_CASE_TEMPLATE("cmpxchg's comparison flags are cmp's", T, uint8_t, uint16_t, uint32_t,
                   uint64_t) {
    Operands operands(10);
    Tally tally;
    auto check = [&](T accumulator, T destination, uint32_t status) {
        const AluResult<T> expected = cmp(accumulator, destination);
        const uint64_t actual = host::cmpxchg_flags(accumulator, destination, T{0x5a}, status);
        tally.record(same_flags(expected, status, actual, compared_flags(expected.undefined)), [&] {
            return "cmpxchg/" + std::to_string(kWidth<T>) + "(" + hex(accumulator) + ", " +
                   hex(destination) + "): " + flag_mismatch(expected, status, actual);
        });
    };
    for (T a : edge_values<T>()) {
        for (T b : edge_values<T>()) {
            check(a, b, 0);
            check(a, b, kStatusFlags);
        }
    }
    for (int i = 0; i < kRandomCases; ++i) {
        const T a = operands.next<T>();
        // Equal operands half of the time: the exchanging path.
        check(a, i % 2 ? a : operands.next<T>(), operands.status());
    }
    tally.require(512 + kRandomCases);
}

TEST_CASE_TEMPLATE("neg, inc and dec match the CPU", T, uint8_t, uint16_t, uint32_t, uint64_t) {
    SUBCASE("neg") {
        compare_unary<T>(
            "neg", [](T a, uint32_t) { return neg(a); },
            [](T a, uint32_t s) { return host::neg(a, s); }, 7, kRandomCases)
            .require(kMinimumUnaryCases<T>);
    }
    SUBCASE("inc") {
        compare_unary<T>(
            "inc", [](T a, uint32_t) { return inc(a); },
            [](T a, uint32_t s) { return host::inc(a, s); }, 8, kRandomCases)
            .require(kMinimumUnaryCases<T>);
    }
    SUBCASE("dec") {
        compare_unary<T>(
            "dec", [](T a, uint32_t) { return dec(a); },
            [](T a, uint32_t s) { return host::dec(a, s); }, 9, kRandomCases)
            .require(kMinimumUnaryCases<T>);
    }
}

TEST_CASE("the flags the manuals define for addition and subtraction, by hand") {
    // Independent of the host: worked examples from the definitions.
    const AluResult<uint8_t> sum = add<uint8_t>(0x7f, 0x01);
    CHECK(sum.value == 0x80);
    CHECK(sum.flags == (kOverflowFlag | kSignFlag | kAdjustFlag));
    CHECK(sum.written == kStatusFlags);

    const AluResult<uint32_t> wrap = adc<uint32_t>(0xffffffff, 0, kCarryFlag);
    CHECK(wrap.value == 0);
    CHECK(wrap.flags == (kCarryFlag | kZeroFlag | kParityFlag | kAdjustFlag));

    const AluResult<uint64_t> borrow = sbb<uint64_t>(0, 0, kCarryFlag);
    CHECK(borrow.value == ~0ULL);
    CHECK((borrow.flags & kCarryFlag) != 0);

    const AluResult<uint16_t> most_negative = neg<uint16_t>(0x8000);
    CHECK(most_negative.value == 0x8000);
    CHECK((most_negative.flags & (kOverflowFlag | kCarryFlag)) == (kOverflowFlag | kCarryFlag));

    // INC leaves CF to its old value.
    const AluResult<uint8_t> increment = inc<uint8_t>(0xff);
    CHECK(increment.merged_into(kCarryFlag) ==
          (kCarryFlag | kZeroFlag | kParityFlag | kAdjustFlag));
    CHECK(increment.merged_into(0) == (kZeroFlag | kParityFlag | kAdjustFlag));

    CHECK_FALSE(cmp<uint8_t>(1, 2).destination_written);
}
