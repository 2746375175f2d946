// Comparing the ALU model with the host CPU: which flags to compare, the
// operands to try, and a tally that reports the first mismatch instead of a
// flood of them.
#pragma once

#include "replay-engine/alu/status_flags.h"
#include "tests/alu/host_cpu.h"

#include <cpuid.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <initializer_list>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace krr::alu::testing {

// Whether to compare Intel's values of undefined flags. Setting
// KRR_ALU_DEFINED_FLAGS_ONLY in the environment takes the non-Intel path on
// an Intel host, so that path can be exercised here too.
inline bool host_is_intel() {
    static const bool intel = [] {
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        __get_cpuid(0, &eax, &ebx, &ecx, &edx);
        char vendor[13] = {};
        std::memcpy(vendor, &ebx, 4);
        std::memcpy(vendor + 4, &edx, 4);
        std::memcpy(vendor + 8, &ecx, 4);
        const bool forced = std::getenv("KRR_ALU_DEFINED_FLAGS_ONLY") != nullptr;
        const bool is_intel = std::strcmp(vendor, "GenuineIntel") == 0 && !forced;
        if (!is_intel) {
            std::printf("alu tests: host is %s%s: comparing only the flags and results the "
                        "manuals define; Intel's choices for undefined ones are not checked\n",
                        vendor,
                        forced ? " (KRR_ALU_DEFINED_FLAGS_ONLY set)" : ", not GenuineIntel");
        }
        return is_intel;
    }();
    return intel;
}

// The status flags to compare for an instruction whose undefined flags are
// `undefined`.
inline uint32_t compared_flags(uint32_t undefined) {
    return host_is_intel() ? kStatusFlags : kStatusFlags & ~undefined;
}

inline std::string flag_names(uint64_t flags) {
    std::string names;
    const std::pair<uint32_t, const char*> all[] = {{kOverflowFlag, "OF"}, {kSignFlag, "SF"},
                                                    {kZeroFlag, "ZF"},     {kAdjustFlag, "AF"},
                                                    {kParityFlag, "PF"},   {kCarryFlag, "CF"}};
    for (const auto& [bit, name] : all) {
        if (flags & bit) {
            names += names.empty() ? "" : "|";
            names += name;
        }
    }
    return names.empty() ? "-" : names;
}

inline std::string hex(uint64_t value) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

// Counts the cases compared and keeps the first mismatch for the report.
struct Tally {
    uint64_t cases = 0;
    uint64_t mismatches = 0;
    std::string first_mismatch;

    template <class Describe>
    void record(bool same, Describe describe) {
        ++cases;
        if (!same) {
            if (mismatches == 0) {
                first_mismatch = describe();
            }
            ++mismatches;
        }
    }

    // Every test requires a minimum number of comparisons, so a loop that
    // silently ran zero times cannot pass.
    void require(uint64_t minimum_cases) const {
        INFO(mismatches << " of " << cases << " cases differ; first: " << first_mismatch);
        CHECK(mismatches == 0);
        CHECK(cases >= minimum_cases);
    }
};

// Model flags merged into the input flags, against the CPU's, on the
// compared flags only. Returns a description when they differ.
inline bool same_flags(const FlagUpdate& model, uint32_t status_in, uint64_t native_rflags,
                       uint32_t compare) {
    const uint64_t expected = model.merged_into(status_in) & compare;
    return expected == (native_rflags & compare);
}

inline std::string flag_mismatch(const FlagUpdate& model, uint32_t status_in,
                                 uint64_t native_rflags) {
    std::ostringstream text;
    text << "flags in " << flag_names(status_in) << ", model "
         << flag_names(model.merged_into(status_in) & kStatusFlags) << ", cpu "
         << flag_names(native_rflags & kStatusFlags);
    return text.str();
}

// A result against the CPU's: the value (the old destination where the
// model says the destination is untouched) and the compared flags.
// `value_defined` is false where the manuals leave the result undefined
// (SHLD/SHRD by more than 16 on 16 bits): then only an Intel host compares it.
template <Operand T>
bool same_result(const AluResult<T>& model, T destination_before, uint32_t status_in,
                 const host::Out<T>& cpu, bool value_defined = true) {
    const T expected = model.destination_written ? model.value : destination_before;
    const bool value_same = (!value_defined && !host_is_intel()) || expected == cpu.value;
    return value_same && same_flags(model, status_in, cpu.rflags, compared_flags(model.undefined));
}

template <Operand T>
std::string describe(const char* operation, std::initializer_list<uint64_t> operands,
                     uint32_t status_in, const AluResult<T>& model, T destination_before,
                     const host::Out<T>& cpu) {
    std::ostringstream text;
    text << operation << "/" << kWidth<T> << "(";
    const char* separator = "";
    for (uint64_t operand : operands) {
        text << separator << hex(operand);
        separator = ", ";
    }
    const T expected = model.destination_written ? model.value : destination_before;
    text << "): model " << hex(expected) << ", cpu " << hex(cpu.value) << "; "
         << flag_mismatch(model, status_in, cpu.rflags);
    return text.str();
}

// Values where flags change behaviour: zero, one, the sign boundaries, all
// ones, the nibble boundary AF watches, alternating bits.
template <Operand T>
std::vector<T> edge_values() {
    const T max = static_cast<T>(~T{0});
    const T sign = kSignBit<T>;
    return {0,
            1,
            2,
            3,
            0x0f,
            0x10,
            0x7f,
            0x80,
            0xff,
            static_cast<T>(sign - 1),
            sign,
            static_cast<T>(sign + 1),
            static_cast<T>(max - 1),
            max,
            static_cast<T>(0x5555555555555555ULL),
            static_cast<T>(0xaaaaaaaaaaaaaaaaULL)};
}

// A fixed seed: every run compares the same operands.
class Operands {
public:
    explicit Operands(uint64_t seed) : engine_(seed) {}

    // Uniform bits half of the time; otherwise a value near an edge, where
    // bugs live and uniform bits rarely go.
    template <Operand T>
    T next() {
        const uint64_t bits = engine_();
        switch (engine_() % 4) {
        case 0:
        case 1:
            return static_cast<T>(bits);
        case 2: {
            const std::vector<T> edges = edge_values<T>();
            return static_cast<T>(edges[bits % edges.size()] + (engine_() % 5) - 2);
        }
        default:
            // Few set bits or few clear bits.
            return static_cast<T>((engine_() % 2) ? (bits & engine_() & engine_())
                                                  : (bits | engine_() | engine_()));
        }
    }

    uint32_t status() { return static_cast<uint32_t>(engine_()) & kStatusFlags; }
    uint8_t count() { return static_cast<uint8_t>(engine_()); }

private:
    std::mt19937_64 engine_;
};

// The input status flags every edge case runs under: none, all, and each
// of CF alone and everything but CF (ADC/SBB/RCL/RCR read CF).
inline const uint32_t kEdgeStatuses[] = {0, kStatusFlags, kCarryFlag, kStatusFlags & ~kCarryFlag};

// Drives a two-operand instruction: every pair of 8-bit operands, or every
// pair of edge values for wider ones, under the edge statuses; then random
// operands under random statuses.
template <Operand T, class Model, class Cpu>
Tally compare_binary(const char* operation, Model model, Cpu cpu, uint64_t seed, int random_cases) {
    Tally tally;
    auto check = [&](T a, T b, uint32_t status) {
        const AluResult<T> expected = model(a, b, status);
        const host::Out<T> actual = cpu(a, b, status);
        tally.record(same_result(expected, a, status, actual), [&] {
            return describe(operation, {a, b}, status, expected, a, actual);
        });
    };
    if constexpr (sizeof(T) == 1) {
        for (unsigned a = 0; a < 256; ++a) {
            for (unsigned b = 0; b < 256; ++b) {
                check(static_cast<T>(a), static_cast<T>(b), 0);
                check(static_cast<T>(a), static_cast<T>(b), kStatusFlags);
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
    for (int i = 0; i < random_cases; ++i) {
        const T a = operands.next<T>();
        const T b = operands.next<T>();
        check(a, b, operands.status());
    }
    return tally;
}

template <Operand T, class Model, class Cpu>
Tally compare_unary(const char* operation, Model model, Cpu cpu, uint64_t seed, int random_cases) {
    Tally tally;
    auto check = [&](T a, uint32_t status) {
        const AluResult<T> expected = model(a, status);
        const host::Out<T> actual = cpu(a, status);
        tally.record(same_result(expected, a, status, actual),
                     [&] { return describe(operation, {a}, status, expected, a, actual); });
    };
    if constexpr (sizeof(T) == 1) {
        for (unsigned a = 0; a < 256; ++a) {
            for (uint32_t status : kEdgeStatuses) {
                check(static_cast<T>(a), status);
            }
        }
    } else {
        for (T a : edge_values<T>()) {
            for (uint32_t status : kEdgeStatuses) {
                check(a, status);
            }
        }
    }
    Operands operands(seed);
    for (int i = 0; i < random_cases; ++i) {
        check(operands.next<T>(), operands.status());
    }
    return tally;
}

// A shift or rotate of every 16-bit value by every count the CPU
// distinguishes (0..31 after masking), with CF clear and set.
template <class Model, class Cpu>
Tally compare_every_word(const char* operation, Model model, Cpu cpu) {
    Tally tally;
    for (unsigned value = 0; value < 65536; ++value) {
        for (unsigned count = 0; count < 32; ++count) {
            const uint16_t word = static_cast<uint16_t>(value);
            const uint32_t status = (value ^ count) & 1 ? kStatusFlags : 0;
            const AluResult<uint16_t> expected = model(word, static_cast<uint8_t>(count), status);
            const host::Out<uint16_t> actual = cpu(word, static_cast<uint8_t>(count), status);
            tally.record(same_result(expected, word, status, actual), [&] {
                return describe(operation, {word, count}, status, expected, word, actual);
            });
        }
    }
    return tally;
}

} // namespace krr::alu::testing
