// Condition codes, LAHF/SAHF, and the sign extensions against the host CPU.
#include "replay-engine/alu/condition.h"
#include "replay-engine/alu/flags_byte.h"
#include "replay-engine/alu/sign_extension.h"
#include "tests/alu/host_cpu.h"
#include "tests/alu/oracle_check.h"

#include <doctest/doctest.h>

using namespace krr::alu;
using namespace krr::alu::testing;

namespace {

// Every combination of the six status flags.
uint32_t status_from_index(unsigned index) {
    const uint32_t bits[] = {kCarryFlag, kParityFlag, kAdjustFlag,
                             kZeroFlag,  kSignFlag,   kOverflowFlag};
    uint32_t status = 0;
    for (unsigned i = 0; i < 6; ++i) {
        if (index & (1u << i)) {
            status |= bits[i];
        }
    }
    return status;
}

} // namespace

TEST_CASE("all 16 conditions match SETcc under every combination of flags") {
    Tally tally;
    for (unsigned cc = 0; cc < 16; ++cc) {
        for (unsigned index = 0; index < 64; ++index) {
            const uint32_t status = status_from_index(index);
            const bool expected = condition(static_cast<uint8_t>(cc), host::input_rflags(status));
            tally.record(expected == host::setcc(cc, status), [&] {
                return "condition " + std::to_string(cc) + " under " + flag_names(status) +
                       ": model " + std::to_string(expected);
            });
        }
    }
    tally.require(16 * 64);
    // Only the low four bits of the opcode matter.
    CHECK(condition(0x74, kZeroFlag));
    CHECK(condition(Condition::Less, kSignFlag));
    CHECK_FALSE(condition(Condition::Less, kSignFlag | kOverflowFlag));
}

TEST_CASE("lahf and sahf match the CPU") {
    Tally tally;
    for (unsigned index = 0; index < 64; ++index) {
        const uint32_t status = status_from_index(index);
        const uint8_t expected = lahf(host::input_rflags(status));
        const uint8_t actual = static_cast<uint8_t>(host::lahf(0x1234, status) >> 8);
        tally.record(expected == actual, [&] {
            return "lahf under " + flag_names(status) + ": model " + hex(expected) + ", cpu " +
                   hex(actual);
        });
    }
    for (unsigned ah = 0; ah < 256; ++ah) {
        for (uint32_t status : kEdgeStatuses) {
            // OF and the low byte; SAHF must not touch OF.
            const uint64_t compared = 0x8ffu;
            const uint64_t expected =
                sahf(host::input_rflags(status), static_cast<uint8_t>(ah)) & compared;
            const uint64_t actual = host::sahf(static_cast<uint64_t>(ah) << 8, status) & compared;
            tally.record(expected == actual, [&] {
                return "sahf " + hex(ah) + " under " + flag_names(status) + ": model " +
                       hex(expected) + ", cpu " + hex(actual);
            });
        }
    }
    tally.require(64 + 256 * 4);
}

TEST_CASE("cbw, cwde, cdqe, cwd, cdq and cqo match the CPU") {
    Operands operands(61);
    Tally tally;
    for (int i = 0; i < 20000; ++i) {
        const uint64_t rax =
            i < 16 ? edge_values<uint64_t>()[static_cast<size_t>(i)] : operands.next<uint64_t>();
        const uint64_t rdx = operands.next<uint64_t>();
        // CBW and CWD write 16 bits and keep the rest of the register.
        tally.record(((rax & ~0xffffULL) | cbw(static_cast<uint8_t>(rax))) == host::cbw(rax),
                     [&] { return "cbw " + hex(rax); });
        tally.record(uint64_t{cwde(static_cast<uint16_t>(rax))} == host::cwde(rax),
                     [&] { return "cwde " + hex(rax); });
        tally.record(cdqe(static_cast<uint32_t>(rax)) == host::cdqe(rax),
                     [&] { return "cdqe " + hex(rax); });
        tally.record(((rdx & ~0xffffULL) | cwd(static_cast<uint16_t>(rax))) == host::cwd(rax, rdx),
                     [&] { return "cwd " + hex(rax); });
        tally.record(uint64_t{cdq(static_cast<uint32_t>(rax))} == host::cdq(rax, rdx),
                     [&] { return "cdq " + hex(rax); });
        tally.record(cqo(rax) == host::cqo(rax, rdx), [&] { return "cqo " + hex(rax); });
    }
    tally.require(6 * 20000);
}

TEST_CASE("movsx and movzx helpers") {
    CHECK(sign_extend<uint64_t>(uint8_t{0x80}) == 0xffffffffffffff80ULL);
    CHECK(sign_extend<uint32_t>(uint16_t{0x7fff}) == 0x7fffu);
    CHECK(sign_extend<uint64_t>(uint32_t{0x80000000}) == 0xffffffff80000000ULL);
    CHECK(zero_extend<uint64_t>(uint8_t{0x80}) == 0x80u);
    CHECK(zero_extend<uint16_t>(uint8_t{0xff}) == 0xffu);
}
