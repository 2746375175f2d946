// Every snippet in snippets.S runs natively (the oracle) and in the
// interpreter from the same random states; registers, the status flags, the
// data window and any fault must agree exactly.
#include "tests/interpreter/user_mode_machine.h"
#include "tests/support/native_oracle.h"

#include <csignal>
#include <cstring>
#include <doctest/doctest.h>
#include <random>
#include <sstream>
#include <string>

extern "C" {
struct SnippetEntry {
    const char* name;
    const uint8_t* begin;
    const uint8_t* end;
};
extern const SnippetEntry __start_krr_snippet_table[];
extern const SnippetEntry __stop_krr_snippet_table[];
}

using namespace krr;
using krr::testing::kStatusAndDf;
using krr::testing::NativeOracle;
using krr::testing::signal_matches_vector;

namespace {

constexpr int kStatesPerSnippet = 24;

std::string hex(uint64_t v) {
    std::ostringstream o;
    o << std::hex << "0x" << v;
    return o.str();
}

CpuState random_state(std::mt19937_64& rng) {
    CpuState s{};
    for (auto& r : s.gpr) {
        r = rng();
        // Small values and sign boundaries matter as much as random ones.
        switch (rng() % 6) {
        case 0:
            r &= 0xff;
            break;
        case 1:
            r = (rng() & 1) ? 0x80000000ULL : 0x8000000000000000ULL;
            break;
        default:
            break;
        }
    }
    s.gpr[R15] = NativeOracle::kWindowAddress;
    s.gpr[RSP] = NativeOracle::kWindowAddress + 0x8000;
    s.gpr[RBP] = NativeOracle::kWindowAddress + 0x9000;
    s.gpr[RCX] &= 0xffff;           // LOOP counts stay reasonable
    s.rflags = (rng() & 0x8d5) | 2; // random status flags, DF clear
    return s;
}

// Lane values that exercise the corners of floating point: zeros of both
// signs, infinities, quiet and signalling NaNs, denormals, the largest and
// smallest normals, and values that overflow integer conversions.
uint32_t edge_single(std::mt19937_64& rng) {
    static constexpr uint32_t kEdges[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000,
                                          0x7fc00000, 0xffc00001, 0x7f800001, 0x00000001,
                                          0x807fffff, 0x7f7fffff, 0x00800000, 0x3f800000,
                                          0xbf800000, 0x4f000000, 0xcf000001, 0x5f000000};
    return rng() % 3 == 0 ? kEdges[rng() % 16] : static_cast<uint32_t>(rng());
}

uint64_t edge_double(std::mt19937_64& rng) {
    static constexpr uint64_t kEdges[] = {
        0x0000000000000000, 0x8000000000000000, 0x7ff0000000000000, 0xfff0000000000000,
        0x7ff8000000000000, 0xfff8000000000001, 0x7ff0000000000001, 0x0000000000000001,
        0x800fffffffffffff, 0x7fefffffffffffff, 0x0010000000000000, 0x3ff0000000000000,
        0xbff0000000000000, 0x41e0000000000000, 0xc3e0000000000001, 0x43e0000000000000};
    return rng() % 3 == 0 ? kEdges[rng() % 16] : rng();
}

// Random x87/SSE state (from its own generator, so the integer snippets see
// the same states as before): XMM lanes full of edge values, random
// 80-bit stack contents and tags, TOP, masked exception flags, and MXCSR
// with any rounding mode, FTZ and DAZ.
void randomize_fpu(FpuState& fpu, std::mt19937_64& rng) {
    for (auto& x : fpu.xmm) {
        if (rng() & 1) {
            for (size_t lane = 0; lane < 4; ++lane) {
                uint32_t v = edge_single(rng);
                std::memcpy(x.data() + 4 * lane, &v, 4);
            }
        } else {
            for (size_t lane = 0; lane < 2; ++lane) {
                uint64_t v = edge_double(rng);
                std::memcpy(x.data() + 8 * lane, &v, 8);
            }
        }
    }
    for (auto& st : fpu.st) {
        st.fill(0);
        uint64_t mantissa = edge_double(rng) | ((rng() % 8) ? (1ULL << 63) : 0);
        uint16_t exponent = static_cast<uint16_t>(rng() % 4 == 0 ? ((rng() & 1) ? 0x7fff : 0)
                                                                 : 0x3fff + (rng() % 64) - 32);
        exponent = static_cast<uint16_t>(exponent | ((rng() & 1) << 15));
        std::memcpy(st.data(), &mantissa, 8);
        std::memcpy(st.data() + 8, &exponent, 2);
    }
    fpu.ftw = static_cast<uint8_t>(rng() % 3 == 0 ? 0 : rng());
    fpu.fsw = static_cast<uint16_t>(rng() & 0x3f7f); // TOP, C0-C3, masked flags; no ES
    fpu.mxcsr = 0x1f80 | static_cast<uint32_t>(rng() & 0x3f);
    if (rng() % 3 == 0) {
        fpu.mxcsr |= static_cast<uint32_t>(rng() & 0xe040); // RC, FTZ, DAZ
    }
}

std::string bytes_hex(std::span<const uint8_t> bytes) {
    std::ostringstream o;
    for (size_t i = bytes.size(); i-- > 0;) {
        o << std::hex << (bytes[i] >> 4) << (bytes[i] & 15);
    }
    return o.str();
}

} // namespace

TEST_CASE("interpreter matches the host CPU on every snippet") {
    NativeOracle oracle;
    krr::testing::UserModeMachine machine;
    std::mt19937_64 rng(20261125);
    std::mt19937_64 fpu_rng(20261126);
    std::vector<uint8_t> window(4096);
    int compared = 0;
    for (const SnippetEntry* e = __start_krr_snippet_table; e != __stop_krr_snippet_table; ++e) {
        std::span<const uint8_t> code(e->begin, e->end);
        for (int i = 0; i < kStatesPerSnippet; ++i) {
            CpuState in = random_state(rng);
            randomize_fpu(in.fpu, fpu_rng);
            for (auto& b : window) {
                b = static_cast<uint8_t>(rng());
            }
            auto native = oracle.run(code, in, window);
            auto emulated = machine.run(code, in, window);
            INFO("snippet " << std::string(e->name) << ", state " << i);
            REQUIRE_MESSAGE(emulated.ok, emulated.error);
            if (native.signal) {
                CHECK_MESSAGE(signal_matches_vector(native.signal, emulated.vector),
                              "native signal " << native.signal << ", emulated vector "
                                               << emulated.vector);
                CHECK(emulated.fault_rip == native.cpu.rip);
            } else {
                CHECK_MESSAGE(emulated.vector == -1, "unexpected vector "
                                                         << emulated.vector << " at "
                                                         << hex(emulated.fault_rip));
                CHECK(hex(emulated.cpu.rip) == hex(native.cpu.rip));
            }
            for (int r = 0; r < kGprCount; ++r) {
                INFO("register " << r);
                CHECK(hex(emulated.cpu.gpr[r]) == hex(native.cpu.gpr[r]));
            }
            CHECK(hex(emulated.cpu.rflags & kStatusAndDf) == hex(native.cpu.rflags & kStatusAndDf));
            CHECK(emulated.window == native.window);
            // The x87/SSE state. At a SIMD exception the emulated state is
            // the one before the instruction, while the CPU has already set
            // the MXCSR flags: those are the only bits not comparable.
            const FpuState& ef = emulated.cpu.fpu;
            const FpuState& nf = native.cpu.fpu;
            uint32_t mxcsr_compared = emulated.vector == kSimdError ? ~0x3fu : ~0u;
            CHECK(hex(ef.mxcsr & mxcsr_compared) == hex(nf.mxcsr & mxcsr_compared));
            CHECK(hex(ef.fcw) == hex(nf.fcw));
            CHECK(hex(ef.fsw) == hex(nf.fsw));
            CHECK(hex(ef.ftw) == hex(nf.ftw));
            for (size_t r = 0; r < 16; ++r) {
                INFO("xmm" << r);
                CHECK(bytes_hex(ef.xmm[r]) == bytes_hex(nf.xmm[r]));
            }
            for (size_t r = 0; r < 8; ++r) {
                INFO("st" << r);
                CHECK(bytes_hex(std::span(ef.st[r]).first(10)) ==
                      bytes_hex(std::span(nf.st[r]).first(10)));
            }
            ++compared;
        }
    }
    MESSAGE("compared " << compared << " runs of "
                        << (__stop_krr_snippet_table - __start_krr_snippet_table) << " snippets");
    CHECK(compared > 0);
}
