#include "replay-engine/system/control_registers.h"
#include "replay-engine/system/model_specific_registers.h"

#include <doctest/doctest.h>

using namespace krr;

namespace {

struct LongModeCpu {
    GuestMemory ram{1 << 20};
    LinearMemory mem{ram, nullptr};
    CpuState cpu{};
    LongModeCpu() {
        cpu.cr0 = 0x80050033; // PG WP NE ET MP PE, as Linux runs
        cpu.cr4 = 0xa0;       // PAE PGE
        cpu.msr.efer = 0xd01; // SCE LME LMA NXE
        cpu.seg[CS].l = 1;
        sync_paging(cpu, mem);
    }
};

bool faults(auto&& f) {
    try {
        f();
    } catch (const GuestFault& g) {
        return g.vector == kGeneralProtection;
    }
    return false;
}

} // namespace

TEST_CASE("CR0 writes: reserved bits and invalid combinations are #GP") {
    LongModeCpu c;
    CHECK(faults([&] { write_cr0(c.cpu, c.mem, 0x80050033ULL | (1ULL << 32)); }));
    CHECK(faults([&] { write_cr0(c.cpu, c.mem, 0x80000000); })); // PG without PE
    CHECK(faults([&] { write_cr0(c.cpu, c.mem, 0x20000001); })); // NW without CD
    CHECK(faults([&] { write_cr0(c.cpu, c.mem, 0x00050033); })); // leave long mode from 64-bit code
    write_cr0(c.cpu, c.mem, 0x80040023);                         // clear WP: allowed
    CHECK(c.cpu.cr0 == (0x80040023 | 0x10));
}

TEST_CASE("enabling paging with LME activates long mode; it needs PAE") {
    CpuState cpu{};
    GuestMemory ram{1 << 20};
    LinearMemory mem{ram, nullptr};
    cpu.cr0 = 0x11;
    cpu.msr.efer = 0x100; // LME
    CHECK(faults([&] { write_cr0(cpu, mem, 0x80000011); }));
    cpu.cr4 = 0x20;
    write_cr0(cpu, mem, 0x80000011);
    CHECK((cpu.msr.efer & 0x400) != 0);
}

TEST_CASE("CR4 rejects features the masked CPU does not have") {
    LongModeCpu c;
    for (int bit : {0, 1, 3, 6, 11, 12, 13, 16, 17, 18, 20, 21, 22}) {
        INFO("bit " << bit);
        CHECK(faults([&] { write_cr4(c.cpu, c.mem, 0xa0 | (1ULL << bit)); }));
    }
    CHECK(faults([&] { write_cr4(c.cpu, c.mem, 0x80); })); // clearing PAE in long mode
    write_cr4(c.cpu, c.mem, 0x6a0);                        // + OSFXSR, OSXMMEXCPT
    CHECK(c.cpu.cr4 == 0x6a0);
}

TEST_CASE("CR3 write flushes non-global translations; reserved high bits fault") {
    LongModeCpu c;
    CHECK(faults([&] { write_cr3(c.cpu, c.mem, 1ULL << 63); }));
    Translation t{};
    t.ok = true;
    t.physical = 0x5000;
    t.global = false;
    c.mem.tlb().insert(0x1000, t, true, false, nullptr);
    REQUIRE(c.mem.tlb().find(0x1000, tlb_right(Access::Read, false)));
    write_cr3(c.cpu, c.mem, 0x2000);
    CHECK(c.mem.tlb().find(0x1000, tlb_right(Access::Read, false)) == nullptr);
    CHECK(c.mem.paging().cr3 == 0x2000);
}

TEST_CASE("MSRs: the implemented set, canonical checks, and #GP for the rest") {
    LongModeCpu c;
    CHECK(write_msr(c.cpu, c.mem, msr::kLstar, 0xffffffff81a00000ULL, 0));
    CHECK(read_msr(c.cpu, msr::kLstar, 0) == 0xffffffff81a00000ULL);
    CHECK_FALSE(write_msr(c.cpu, c.mem, msr::kLstar, 0x0000800000000000ULL, 0));
    CHECK(write_msr(c.cpu, c.mem, msr::kGsBase, 0xffff888000001000ULL, 0));
    CHECK(c.cpu.seg[GS].base == 0xffff888000001000ULL);
    CHECK_FALSE(write_msr(c.cpu, c.mem, msr::kPat, 0x0202020202020202ULL, 0));
    CHECK_FALSE(read_msr(c.cpu, 0x3a, 0).has_value());      // IA32_FEATURE_CONTROL: no VMX
    CHECK_FALSE(write_msr(c.cpu, c.mem, 0xc0000103, 0, 0)); // TSC_AUX: no RDTSCP
    // The TSC follows the virtual clock; a write sets the offset.
    CHECK(write_msr(c.cpu, c.mem, msr::kTsc, 5000, 1000));
    CHECK(read_msr(c.cpu, msr::kTsc, 3000) == 7000);
    // EFER: LME cannot change while paging is on; NXE can.
    CHECK_FALSE(write_msr(c.cpu, c.mem, msr::kEfer, 0x401, 0));
    CHECK(write_msr(c.cpu, c.mem, msr::kEfer, 0x501, 0));
    CHECK(c.mem.paging().efer == 0x501);
}
