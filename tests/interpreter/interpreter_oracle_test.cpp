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
using krr::testing::NativeOracle;

namespace {

constexpr uint64_t kStatusAndDf = 0xcd5; // CF PF AF ZF SF DF OF
constexpr int kStatesPerSnippet = 24;

bool signal_matches(int signal, int vector) {
    switch (signal) {
    case SIGSEGV:
        return vector == kPageFault || vector == kGeneralProtection || vector == kStackFault;
    case SIGILL:
        return vector == kInvalidOpcode;
    case SIGFPE:
        return vector == kDivideError || vector == kX87Error || vector == kSimdError;
    case SIGBUS:
        return vector == kAlignmentCheck;
    case SIGTRAP:
        return vector == kBreakpoint || vector == kDebug;
    default:
        return false;
    }
}

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

} // namespace

TEST_CASE("interpreter matches the host CPU on every snippet") {
    NativeOracle oracle;
    krr::testing::UserModeMachine machine;
    std::mt19937_64 rng(20261125);
    std::vector<uint8_t> window(4096);
    int compared = 0;
    for (const SnippetEntry* e = __start_krr_snippet_table; e != __stop_krr_snippet_table; ++e) {
        std::span<const uint8_t> code(e->begin, e->end);
        for (int i = 0; i < kStatesPerSnippet; ++i) {
            CpuState in = random_state(rng);
            for (auto& b : window) {
                b = static_cast<uint8_t>(rng());
            }
            auto native = oracle.run(code, in, window);
            auto emulated = machine.run(code, in, window);
            INFO("snippet " << std::string(e->name) << ", state " << i);
            REQUIRE_MESSAGE(emulated.ok, emulated.error);
            if (native.signal) {
                CHECK_MESSAGE(signal_matches(native.signal, emulated.vector),
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
            ++compared;
        }
    }
    MESSAGE("compared " << compared << " runs of "
                        << (__stop_krr_snippet_table - __start_krr_snippet_table) << " snippets");
    CHECK(compared > 0);
}
