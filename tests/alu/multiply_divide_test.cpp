// MUL, IMUL (all forms), DIV, IDIV against the host CPU. Divisions that
// raise #DE are never run natively: they are checked against the rule the
// manuals state, computed here in 128-bit arithmetic.
#include "replay-engine/alu/divide.h"
#include "replay-engine/alu/multiply.h"
#include "replay-engine/alu/sign_extension.h"
#include "tests/alu/host_cpu.h"
#include "tests/alu/oracle_check.h"

#include <doctest/doctest.h>
#include <limits>

using namespace krr::alu;
using namespace krr::alu::testing;

namespace {

constexpr int kRandomCases = 40000;

__extension__ using Uint128 = unsigned __int128;
__extension__ using Int128 = __int128;

template <Operand T, class Model, class Cpu>
Tally compare_widening(const char* operation, Model model, Cpu cpu, uint64_t seed) {
    Tally tally;
    auto check = [&](T a, T b, uint32_t status) {
        const WideResult<T> expected = model(a, b);
        const host::WideOut<T> actual = cpu(a, b, status);
        const bool same =
            expected.low == actual.low && expected.high == actual.high &&
            same_flags(expected, status, actual.rflags, compared_flags(expected.undefined));
        tally.record(same, [&] {
            return std::string(operation) + "/" + std::to_string(kWidth<T>) + "(" + hex(a) + ", " +
                   hex(b) + "): model " + hex(expected.high) + ":" + hex(expected.low) + ", cpu " +
                   hex(actual.high) + ":" + hex(actual.low) + "; " +
                   flag_mismatch(expected, status, actual.rflags);
        });
    };
    if constexpr (sizeof(T) == 1) {
        for (unsigned a = 0; a < 256; ++a) {
            for (unsigned b = 0; b < 256; ++b) {
                check(static_cast<T>(a), static_cast<T>(b), (a * 7 + b) & kStatusFlags);
            }
        }
    } else {
        for (T a : edge_values<T>()) {
            for (T b : edge_values<T>()) {
                for (uint32_t status : kEdgeStatuses) {
                    check(a, b, status);
                }
            }
        }
    }
    Operands operands(seed);
    for (int i = 0; i < kRandomCases; ++i) {
        const T a = operands.next<T>();
        const T b = operands.next<T>();
        check(a, b, operands.status());
    }
    return tally;
}

template <class T>
constexpr uint64_t kMinimumWideningCases = sizeof(T) == 1 ? 65536 + kRandomCases
                                                          : 1024 + kRandomCases;

// The #DE rule, stated as the manuals state it: the divisor is zero or the
// quotient does not fit the operand.
template <Operand T>
bool div_faults(T high, T low, T divisor) {
    if (divisor == 0) {
        return true;
    }
    const Uint128 dividend = Uint128{high} << kWidth<T> | low;
    return dividend / divisor > std::numeric_limits<T>::max();
}

template <Operand T>
bool idiv_faults(T high, T low, T divisor) {
    using Signed = std::make_signed_t<T>;
    if (divisor == 0) {
        return true;
    }
    const Uint128 bits = Uint128{high} << kWidth<T> | low;
    // Sign-extend the 2w-bit dividend to 128 bits.
    const unsigned unused = 128 - 2 * kWidth<T>;
    const Int128 dividend =
        unused == 0 ? static_cast<Int128>(bits) : static_cast<Int128>(bits << unused) >> unused;
    const Int128 signed_divisor = static_cast<Signed>(divisor);
    if (signed_divisor == -1) {
        // -dividend must fit; the most negative 128-bit value cannot even
        // be negated.
        if (static_cast<Uint128>(dividend) == Uint128{1} << 127) {
            return true;
        }
        return -dividend > std::numeric_limits<Signed>::max() ||
               -dividend < std::numeric_limits<Signed>::min();
    }
    const Int128 quotient = dividend / signed_divisor;
    return quotient > std::numeric_limits<Signed>::max() ||
           quotient < std::numeric_limits<Signed>::min();
}

struct DivideTally {
    Tally tally;
    uint64_t faults = 0;
};

template <Operand T, class Model, class Cpu, class Faults>
void check_divide(DivideTally& totals, const char* operation, Model model, Cpu cpu, Faults faults,
                  T high, T low, T divisor, uint32_t status) {
    const DivideResult<T> expected = model(high, low, divisor);
    const bool must_fault = faults(high, low, divisor);
    auto text = [&](const std::string& what) {
        return std::string(operation) + "/" + std::to_string(kWidth<T>) + "(" + hex(high) + ":" +
               hex(low) + " / " + hex(divisor) + "): " + what;
    };
    if (must_fault) {
        ++totals.faults;
        totals.tally.record(expected.divide_error,
                            [&] { return text("model does not raise #DE"); });
        return;
    }
    const host::WideOut<T> actual = cpu(high, low, divisor, status);
    const bool same =
        !expected.divide_error && expected.quotient == actual.low &&
        expected.remainder == actual.high &&
        same_flags(expected, status, actual.rflags, compared_flags(expected.undefined));
    totals.tally.record(same, [&] {
        return text("model " + std::string(expected.divide_error ? "#DE" : "") + " q " +
                    hex(expected.quotient) + " r " + hex(expected.remainder) + ", cpu q " +
                    hex(actual.low) + " r " + hex(actual.high) + "; " +
                    flag_mismatch(expected, status, actual.rflags));
    });
}

template <Operand T>
void compare_divisions(uint64_t seed) {
    const T max = static_cast<T>(~T{0});
    const T sign = kSignBit<T>;
    auto div_model = [](T h, T l, T d) { return div(h, l, d); };
    auto div_cpu = [](T h, T l, T d, uint32_t s) { return host::div(h, l, d, s); };
    auto idiv_model = [](T h, T l, T d) { return idiv(h, l, d); };
    auto idiv_cpu = [](T h, T l, T d, uint32_t s) { return host::idiv(h, l, d, s); };
    DivideTally unsigned_totals, signed_totals;
    auto both = [&](T high, T low, T divisor, uint32_t status) {
        check_divide(unsigned_totals, "div", div_model, div_cpu, div_faults<T>, high, low, divisor,
                     status);
        check_divide(signed_totals, "idiv", idiv_model, idiv_cpu, idiv_faults<T>, high, low,
                     divisor, status);
    };
    // The boundaries of the rule.
    for (uint32_t status : kEdgeStatuses) {
        both(0, 1, 0, status);                             // divide by zero
        both(max, sign, max, status);                      // INT_MIN / -1 (signed)
        both(max, sign, 1, status);                        // INT_MIN / 1: fits signed
        both(0, sign, 1, status);                          // 2^(w-1) / 1: fits unsigned only
        both(0, static_cast<T>(sign - 1), 1, status);      // INT_MAX / 1
        both(1, 0, 1, status);                             // high == divisor: #DE unsigned
        both(0, max, 1, status);                           // max / 1
        both(static_cast<T>(sign - 1), max, sign, status); // the largest unsigned quotient
    }
    Operands operands(seed);
    for (int i = 0; i < kRandomCases; ++i) {
        const uint32_t status = operands.status();
        T divisor = operands.next<T>();
        const T low = operands.next<T>();
        switch (i % 3) {
        case 0: // the high half a compiler produces with CWD/CDQ/CQO or XOR
            both(sign_of(low) ? max : T{0}, low, divisor, status);
            both(0, low, divisor, status);
            break;
        case 1: // a high half below the divisor
            divisor = divisor == 0 ? 1 : divisor;
            both(static_cast<T>(operands.next<T>() % divisor), low, divisor, status);
            break;
        default: // anything, mostly #DE
            both(operands.next<T>(), low, divisor, status);
            break;
        }
    }
    unsigned_totals.tally.require(kRandomCases);
    signed_totals.tally.require(kRandomCases);
    CHECK(unsigned_totals.faults >= 1000);
    CHECK(signed_totals.faults >= 1000);
    CHECK(unsigned_totals.faults < unsigned_totals.tally.cases);
    CHECK(signed_totals.faults < signed_totals.tally.cases);
}

template <int32_t Imm, Operand T>
void compare_imul_immediate(Tally& tally, T source, uint32_t status) {
    const T immediate = static_cast<T>(static_cast<int64_t>(Imm));
    const AluResult<T> expected = imul_truncating(source, immediate);
    const host::Out<T> actual = host::imul3<Imm>(source, status);
    // The destination register starts undefined; the model's value is the
    // whole story.
    tally.record(
        same_result(expected, actual.value, status, actual) && expected.destination_written, [&] {
            return describe("imul3", {source, immediate}, status, expected, T{0}, actual);
        });
}

template <Operand T>
void compare_imul_immediates(Tally& tally, T source, uint32_t status) {
    compare_imul_immediate<0>(tally, source, status);
    compare_imul_immediate<1>(tally, source, status);
    compare_imul_immediate<-1>(tally, source, status);
    compare_imul_immediate<3>(tally, source, status);
    compare_imul_immediate<127>(tally, source, status);
    compare_imul_immediate<-128>(tally, source, status);
    compare_imul_immediate<0x7fff>(tally, source, status);
    compare_imul_immediate<-0x8000>(tally, source, status);
    if constexpr (sizeof(T) >= 4) {
        compare_imul_immediate<0x12345>(tally, source, status);
        compare_imul_immediate<0x7fffffff>(tally, source, status);
        compare_imul_immediate<std::numeric_limits<int32_t>::min()>(tally, source, status);
    }
}

} // namespace

TEST_CASE_TEMPLATE("one-operand mul and imul match the CPU", T, uint8_t, uint16_t, uint32_t,
                   uint64_t) {
    SUBCASE("mul") {
        compare_widening<T>(
            "mul", [](T a, T b) { return mul(a, b); },
            [](T a, T b, uint32_t s) { return host::mul(a, b, s); }, 41)
            .require(kMinimumWideningCases<T>);
    }
    SUBCASE("imul") {
        compare_widening<T>(
            "imul", [](T a, T b) { return imul_widening(a, b); },
            [](T a, T b, uint32_t s) { return host::imul1(a, b, s); }, 42)
            .require(kMinimumWideningCases<T>);
    }
}

TEST_CASE_TEMPLATE("two- and three-operand imul match the CPU", T, uint16_t, uint32_t, uint64_t) {
    compare_binary<T>(
        "imul2", [](T a, T b, uint32_t) { return imul_truncating(a, b); },
        [](T a, T b, uint32_t s) { return host::imul2(a, b, s); }, 43, kRandomCases)
        .require(1024 + kRandomCases);

    Tally tally;
    for (T source : edge_values<T>()) {
        for (uint32_t status : kEdgeStatuses) {
            compare_imul_immediates(tally, source, status);
        }
    }
    Operands operands(44);
    for (int i = 0; i < 5000; ++i) {
        compare_imul_immediates(tally, operands.next<T>(), operands.status());
    }
    tally.require(8 * 5000);
}

TEST_CASE_TEMPLATE("div and idiv match the CPU, and #DE follows the rule", T, uint8_t, uint16_t,
                   uint32_t, uint64_t) {
    compare_divisions<T>(45);
}

TEST_CASE("divide errors by hand") {
    CHECK(div<uint32_t>(0, 5, 0).divide_error);
    CHECK(idiv<uint64_t>(~0ULL, 1ULL << 63, ~0ULL).divide_error);       // INT64_MIN / -1
    CHECK(idiv<uint8_t>(0, 0x80, 1).divide_error);                      // 128 / 1
    CHECK_FALSE(idiv<uint8_t>(0xff, 0x80, 1).divide_error);             // -128 / 1
    const DivideResult<uint16_t> q = idiv<uint16_t>(0xffff, 0xfff9, 2); // -7 / 2
    CHECK(q.quotient == 0xfffd);                                        // -3, toward zero
    CHECK(q.remainder == 0xffff);                                       // -1, sign of the dividend
    CHECK(q.written == 0);
}
