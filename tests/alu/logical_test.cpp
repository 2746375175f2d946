// AND, OR, XOR, TEST, NOT against the host CPU.
#include "replay-engine/alu/logical.h"
#include "tests/alu/host_cpu.h"
#include "tests/alu/oracle_check.h"

#include <doctest/doctest.h>

using namespace krr::alu;
using namespace krr::alu::testing;

namespace {

constexpr int kRandomCases = 40000;
template <class T>
constexpr uint64_t kMinimumBinaryCases = sizeof(T) == 1 ? 2 * 65536 + kRandomCases
                                                        : 1024 + kRandomCases;

} // namespace

TEST_CASE_TEMPLATE("and, or, xor and test match the CPU", T, uint8_t, uint16_t, uint32_t,
                   uint64_t) {
    SUBCASE("and") {
        compare_binary<T>(
            "and", [](T a, T b, uint32_t) { return and_(a, b); },
            [](T a, T b, uint32_t s) { return host::and_(a, b, s); }, 11, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
    SUBCASE("or") {
        compare_binary<T>(
            "or", [](T a, T b, uint32_t) { return or_(a, b); },
            [](T a, T b, uint32_t s) { return host::or_(a, b, s); }, 12, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
    SUBCASE("xor") {
        compare_binary<T>(
            "xor", [](T a, T b, uint32_t) { return xor_(a, b); },
            [](T a, T b, uint32_t s) { return host::xor_(a, b, s); }, 13, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
    SUBCASE("test") {
        compare_binary<T>(
            "test", [](T a, T b, uint32_t) { return test(a, b); },
            [](T a, T b, uint32_t s) { return host::test(a, b, s); }, 14, kRandomCases)
            .require(kMinimumBinaryCases<T>);
    }
}

TEST_CASE_TEMPLATE("not matches the CPU and changes no flag", T, uint8_t, uint16_t, uint32_t,
                   uint64_t) {
    compare_unary<T>(
        "not", [](T a, uint32_t) { return not_(a); },
        [](T a, uint32_t s) { return host::not_(a, s); }, 15, kRandomCases)
        .require(kRandomCases);
    CHECK(not_<T>(0).written == 0);
}

TEST_CASE("logic clears CF and OF and leaves AF as an undefined flag") {
    const AluResult<uint8_t> r = and_<uint8_t>(0x80, 0xff);
    CHECK(r.value == 0x80);
    CHECK(r.merged_into(kStatusFlags) == kSignFlag);
    CHECK(r.undefined == kAdjustFlag);
    CHECK_FALSE(test<uint8_t>(1, 1).destination_written);
}
