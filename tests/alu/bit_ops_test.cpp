// BSF, BSR, BT/BTS/BTR/BTC (register and memory forms), BSWAP against the
// host CPU.
#include "replay-engine/alu/bit_scan.h"
#include "replay-engine/alu/bit_test.h"
#include "replay-engine/alu/byte_swap.h"
#include "replay-engine/alu/sign_extension.h"
#include "tests/alu/host_cpu.h"
#include "tests/alu/oracle_check.h"

#include <array>
#include <cstring>
#include <doctest/doctest.h>

using namespace krr::alu;
using namespace krr::alu::testing;

namespace {

constexpr int kRandomCases = 40000;

// Register-form bit tests: every offset 0..255 on the edge values, then
// random bases and offsets.
template <Operand T, class Model, class Cpu>
Tally compare_bit_test(const char* operation, Model model, Cpu cpu, uint64_t seed) {
    Tally tally;
    auto check = [&](T base, T offset, uint32_t status) {
        const AluResult<T> expected = model(base, offset);
        const host::Out<T> actual = cpu(base, offset, status);
        tally.record(same_result(expected, base, status, actual), [&] {
            return describe(operation, {base, offset}, status, expected, base, actual);
        });
    };
    for (T base : edge_values<T>()) {
        for (unsigned offset = 0; offset < 256; ++offset) {
            check(base, static_cast<T>(offset), 0);
            check(base, static_cast<T>(offset), kStatusFlags);
        }
    }
    Operands operands(seed);
    for (int i = 0; i < kRandomCases; ++i) {
        const T base = operands.next<T>();
        check(base, operands.next<T>(), operands.status());
    }
    return tally;
}

constexpr uint64_t kMinimumBitTestCases = 16 * 256 * 2 + kRandomCases;

// Bit-scan sources: zero often, single bits, and random values.
template <Operand T, class Model, class Cpu>
Tally compare_bit_scan(const char* operation, Model model, Cpu cpu, uint64_t seed) {
    Tally tally;
    auto check = [&](T destination, T source, uint32_t status) {
        const AluResult<T> expected = model(destination, source);
        const host::Out<T> actual = cpu(destination, source, status);
        tally.record(same_result(expected, destination, status, actual), [&] {
            return describe(operation, {destination, source}, status, expected, destination,
                            actual);
        });
    };
    Operands operands(seed);
    for (unsigned bit = 0; bit < kWidth<T>; ++bit) {
        for (uint32_t status : kEdgeStatuses) {
            check(operands.next<T>(), static_cast<T>(T{1} << bit), status);
            check(operands.next<T>(), static_cast<T>(~T{0} << bit), status);
            check(operands.next<T>(), static_cast<T>(~T{0} >> bit), status);
        }
    }
    for (int i = 0; i < kRandomCases; ++i) {
        const T destination = operands.next<T>();
        const T source = i % 8 == 0 ? T{0} : operands.next<T>();
        check(destination, source, operands.status());
    }
    return tally;
}

// The memory form: the CPU reads the bit at base + offset anywhere in a
// buffer; the model splits the offset and reads the unit it names.
template <Operand T>
Tally compare_bit_test_memory(uint64_t seed) {
    using Signed = std::make_signed_t<T>;
    std::array<uint8_t, 256> buffer{};
    Operands operands(seed);
    for (uint8_t& byte : buffer) {
        byte = operands.next<uint8_t>();
    }
    const uint8_t* base = buffer.data() + 128;
    Tally tally;
    for (int offset = -128 * 8; offset < 120 * 8; ++offset) {
        const T offset_register = static_cast<T>(static_cast<Signed>(offset));
        const uint32_t status = operands.status();
        const BitAddress address = split_bit_offset<T>(offset);
        T unit;
        std::memcpy(&unit, base + address.byte_displacement, sizeof unit);
        const AluResult<T> expected = bt<T>(unit, address.bit);
        const uint64_t actual = host::bt_memory<T>(base, offset_register, status);
        tally.record(same_flags(expected, status, actual, compared_flags(expected.undefined)), [&] {
            return "bt/" + std::to_string(kWidth<T>) + " memory offset " + std::to_string(offset) +
                   ": displacement " + std::to_string(address.byte_displacement) + " bit " +
                   std::to_string(address.bit) + "; " + flag_mismatch(expected, status, actual);
        });
    }
    return tally;
}

} // namespace

TEST_CASE_TEMPLATE("bsf and bsr match the CPU, zero source included", T, uint16_t, uint32_t,
                   uint64_t) {
    SUBCASE("bsf") {
        compare_bit_scan<T>(
            "bsf", [](T d, T s) { return bsf(d, s); },
            [](T d, T s, uint32_t f) { return host::bsf(d, s, f); }, 51)
            .require(kRandomCases);
    }
    SUBCASE("bsr") {
        compare_bit_scan<T>(
            "bsr", [](T d, T s) { return bsr(d, s); },
            [](T d, T s, uint32_t f) { return host::bsr(d, s, f); }, 52)
            .require(kRandomCases);
    }
}

TEST_CASE("a 32-bit bsf or bsr with a zero source leaves the whole 64-bit register") {
    const uint64_t before = 0xdeadbeefcafef00dULL;
    CHECK_FALSE(bsf<uint32_t>(0xcafef00d, 0).destination_written);
    CHECK_FALSE(bsr<uint32_t>(0xcafef00d, 0).destination_written);
    if (host_is_intel()) {
        CHECK(host::bsf32_in_64(before, 0, 0).value == before);
        CHECK(host::bsr32_in_64(before, 0, kStatusFlags).value == before);
    }
    // A non-zero source writes the register, zero-extending as usual.
    CHECK(host::bsf32_in_64(before, 0x10, 0).value == 4);
    CHECK(bsf<uint32_t>(0xcafef00d, 0x10).destination_written);
}

TEST_CASE_TEMPLATE("bt, bts, btr and btc register forms match the CPU", T, uint16_t, uint32_t,
                   uint64_t) {
    SUBCASE("bt") {
        compare_bit_test<T>(
            "bt", [](T b, T o) { return bt(b, o); },
            [](T b, T o, uint32_t s) { return host::bt(b, o, s); }, 53)
            .require(kMinimumBitTestCases);
    }
    SUBCASE("bts") {
        compare_bit_test<T>(
            "bts", [](T b, T o) { return bts(b, o); },
            [](T b, T o, uint32_t s) { return host::bts(b, o, s); }, 54)
            .require(kMinimumBitTestCases);
    }
    SUBCASE("btr") {
        compare_bit_test<T>(
            "btr", [](T b, T o) { return btr(b, o); },
            [](T b, T o, uint32_t s) { return host::btr(b, o, s); }, 55)
            .require(kMinimumBitTestCases);
    }
    SUBCASE("btc") {
        compare_bit_test<T>(
            "btc", [](T b, T o) { return btc(b, o); },
            [](T b, T o, uint32_t s) { return host::btc(b, o, s); }, 56)
            .require(kMinimumBitTestCases);
    }
}

TEST_CASE_TEMPLATE("bit offsets beyond a memory operand address the bit the CPU reads", T, uint16_t,
                   uint32_t, uint64_t) {
    compare_bit_test_memory<T>(57).require(248 * 8);
}

TEST_CASE("split_bit_offset by hand") {
    const BitAddress below = split_bit_offset<uint32_t>(-1);
    CHECK(below.byte_displacement == -4);
    CHECK(below.bit == 31);
    const BitAddress above = split_bit_offset<uint64_t>(130);
    CHECK(above.byte_displacement == 16);
    CHECK(above.bit == 2);
    const BitAddress word = split_bit_offset<uint16_t>(-17);
    CHECK(word.byte_displacement == -4);
    CHECK(word.bit == 15);
}

TEST_CASE("bswap matches the CPU, the 16-bit form as Intel produces it") {
    Operands operands(58);
    Tally tally;
    for (int i = 0; i < kRandomCases; ++i) {
        const uint64_t value = operands.next<uint64_t>();
        tally.record(bswap<uint64_t>(value) == host::bswap64(value),
                     [&] { return "bswap64 " + hex(value); });
        // A 32-bit write zero-extends into the 64-bit register.
        tally.record(bswap<uint32_t>(static_cast<uint32_t>(value)) == host::bswap32_in_64(value),
                     [&] { return "bswap32 " + hex(value); });
        const uint64_t with_low_word =
            (value & ~0xffffULL) | bswap<uint16_t>(static_cast<uint16_t>(value));
        const bool intel_only = !host_is_intel();
        tally.record(intel_only || with_low_word == host::bswap16_in_64(value), [&] {
            return "bswap16 " + hex(value) + ": cpu " + hex(host::bswap16_in_64(value));
        });
    }
    tally.require(3 * kRandomCases);
    CHECK(bswap<uint32_t>(0x11223344) == 0x44332211);
    CHECK(bswap<uint64_t>(0x0102030405060708ULL) == 0x0807060504030201ULL);
}
