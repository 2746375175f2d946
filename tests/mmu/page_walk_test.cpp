#include "replay-engine/mmu/page_walk.h"
#include "replay-engine/mmu/tlb.h"

#include <cstring>
#include <doctest/doctest.h>

using namespace krr;

namespace {

constexpr uint64_t P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80, G = 0x100, XD = 1ULL << 63;
constexpr uint64_t kCr0 = (1ULL << 31) | (1ULL << 16) | 1;            // PG, WP, PE
constexpr uint64_t kCr4 = (1ULL << 5) | (1ULL << 7);                  // PAE, PGE
constexpr uint64_t kEfer = (1ULL << 8) | (1ULL << 10) | (1ULL << 11); // LME, LMA, NXE

// Page tables built by hand at fixed physical addresses, the way the SDM
// lays them out, so expected translations are computed independently of the
// walker.
struct Tables {
    GuestMemory mem{16 << 20};
    uint64_t pml4 = 0x1000, pdpt = 0x2000, pd = 0x3000, pt = 0x4000;

    void set(uint64_t table, unsigned index, uint64_t value) {
        std::memcpy(mem.host(table + index * 8, 8), &value, 8);
    }
    uint64_t get(uint64_t table, unsigned index) {
        uint64_t v;
        std::memcpy(&v, mem.host(table + index * 8, 8), 8);
        return v;
    }
    PagingControl control(uint64_t cr0 = kCr0, uint64_t efer = kEfer) {
        return {cr0, pml4, kCr4, efer};
    }
    Tables() {
        // Linear 0x0000_0000_0040_0000 region: PML4[0] -> PDPT[0] -> PD.
        set(pml4, 0, pdpt | P | RW | US);
        set(pdpt, 0, pd | P | RW | US);
        // PD[2] (linear 4 MiB): a 4 KiB page table.
        set(pd, 2, pt | P | RW | US);
        // PT[0]: user, writable, data at phys 0x100000.
        set(pt, 0, 0x100000 | P | RW | US);
        // PT[1]: user, read-only.
        set(pt, 1, 0x101000 | P | US);
        // PT[2]: supervisor only, writable, no-execute, global.
        set(pt, 2, 0x102000 | P | RW | XD | G);
        // PT[3]: not present.
        set(pt, 3, 0x103000);
        // PD[3] (linear 6 MiB): a 2 MiB page at phys 0x600000, supervisor.
        set(pd, 3, 0x600000 | P | RW | PS);
    }
};

constexpr uint64_t kUserRw = 0x400000, kUserRo = 0x401000, kSuper = 0x402000, kAbsent = 0x403000,
                   kLarge = 0x600000;

} // namespace

TEST_CASE("page walk translates 4 KiB and 2 MiB mappings and sets A/D bits") {
    Tables t;
    auto r = walk_page_tables(t.mem, t.control(), kUserRw + 0x123, Access::Read, true);
    REQUIRE(r.ok);
    CHECK(r.physical == 0x100123);
    CHECK(r.user);
    CHECK(r.writable);
    CHECK((t.get(t.pt, 0) & A) != 0);
    CHECK((t.get(t.pt, 0) & D) == 0); // a read does not dirty
    CHECK((t.get(t.pml4, 0) & A) != 0);

    r = walk_page_tables(t.mem, t.control(), kUserRw + 8, Access::Write, true);
    REQUIRE(r.ok);
    CHECK((t.get(t.pt, 0) & D) != 0);
    CHECK(r.dirty);

    r = walk_page_tables(t.mem, t.control(), kLarge + 0x12345, Access::Read, false);
    REQUIRE(r.ok);
    CHECK(r.physical == 0x612345);
    CHECK(r.page_size == (2u << 20));
}

TEST_CASE("page faults carry the architectural error code") {
    Tables t;
    // Not present: P clear, W and U as accessed.
    auto r = walk_page_tables(t.mem, t.control(), kAbsent, Access::Write, true);
    CHECK_FALSE(r.ok);
    CHECK(r.error_code == (kPfWrite | kPfUser));

    // User read of a supervisor page: protection violation.
    r = walk_page_tables(t.mem, t.control(), kSuper, Access::Read, true);
    CHECK_FALSE(r.ok);
    CHECK(r.error_code == (kPfPresent | kPfUser));

    // User write to a read-only page.
    r = walk_page_tables(t.mem, t.control(), kUserRo, Access::Write, true);
    CHECK_FALSE(r.ok);
    CHECK(r.error_code == (kPfPresent | kPfWrite | kPfUser));

    // Supervisor write to a read-only page faults with CR0.WP, not without.
    r = walk_page_tables(t.mem, t.control(), kUserRo, Access::Write, false);
    CHECK_FALSE(r.ok);
    CHECK(r.error_code == (kPfPresent | kPfWrite));
    r = walk_page_tables(t.mem, t.control(kCr0 & ~(1ULL << 16)), kUserRo, Access::Write, false);
    CHECK(r.ok);

    // Fetch from a no-execute page with NXE: I/D set.
    r = walk_page_tables(t.mem, t.control(), kSuper, Access::Execute, false);
    CHECK_FALSE(r.ok);
    CHECK(r.error_code == (kPfPresent | kPfFetch));
}

TEST_CASE("reserved bits fault with RSVD") {
    Tables t;
    // Bit 63 with NXE clear is reserved.
    auto r = walk_page_tables(t.mem, t.control(kCr0, kEfer & ~(1ULL << 11)), kSuper, Access::Read,
                              false);
    CHECK_FALSE(r.ok);
    CHECK(r.error_code == (kPfPresent | kPfReserved));

    // A physical address bit above 40 is reserved.
    t.set(t.pt, 0, 0x100000 | P | RW | US | (1ULL << 45));
    r = walk_page_tables(t.mem, t.control(), kUserRw, Access::Read, false);
    CHECK_FALSE(r.ok);
    CHECK((r.error_code & kPfReserved) != 0);

    // A 1 GiB page with a reserved bit (bits 29:13) set.
    Tables t2;
    t2.set(t2.pdpt, 1, 0x40000000 | P | RW | PS | (1ULL << 20));
    r = walk_page_tables(t2.mem, t2.control(), 0x40000000, Access::Read, false);
    CHECK_FALSE(r.ok);
    CHECK((r.error_code & kPfReserved) != 0);

    // A page table outside RAM reads as all ones.
    Tables t3;
    t3.set(t3.pd, 4, 0xfee00000 | P | RW);
    r = walk_page_tables(t3.mem, t3.control(), 0x800000, Access::Read, false);
    CHECK_FALSE(r.ok);
    CHECK((r.error_code & kPfReserved) != 0);
}

TEST_CASE("debugger walks change nothing and ignore rights") {
    Tables t;
    PageWalkOptions debugger{false, false};
    auto r = walk_page_tables(t.mem, t.control(), kSuper, Access::Read, true, debugger);
    CHECK(r.ok);
    CHECK((t.get(t.pt, 2) & A) == 0);
}

TEST_CASE("canonical addresses") {
    CHECK(is_canonical(0x00007fffffffffffULL));
    CHECK(is_canonical(0xffff800000000000ULL));
    CHECK_FALSE(is_canonical(0x0000800000000000ULL));
    CHECK_FALSE(is_canonical(0xfffe800000000000ULL));
}

TEST_CASE("TLB grants writes only after D is set and keeps global entries over CR3 writes") {
    Tables t;
    Tlb tlb;
    auto r = walk_page_tables(t.mem, t.control(), kUserRw, Access::Read, true);
    REQUIRE(r.ok);
    tlb.insert(kUserRw, r, true, false, t.mem.host(r.physical & ~0xfffULL, 4096));
    CHECK(tlb.find(kUserRw + 5, tlb_right(Access::Read, true)) != nullptr);
    CHECK(tlb.find(kUserRw + 5, tlb_right(Access::Write, true)) == nullptr); // D not yet set

    r = walk_page_tables(t.mem, t.control(), kUserRw, Access::Write, true);
    tlb.insert(kUserRw, r, true, false, nullptr);
    CHECK(tlb.find(kUserRw, tlb_right(Access::Write, true)) != nullptr);
    tlb.revoke_writes_to(0x100000);
    CHECK(tlb.find(kUserRw, tlb_right(Access::Write, true)) == nullptr);
    CHECK(tlb.find(kUserRw, tlb_right(Access::Read, true)) != nullptr);

    auto g = walk_page_tables(t.mem, t.control(), kSuper, Access::Read, false);
    REQUIRE(g.global);
    tlb.insert(kSuper, g, true, false, nullptr);
    CHECK(tlb.find(kSuper, tlb_right(Access::Read, true)) == nullptr); // supervisor page
    tlb.flush_non_global();
    CHECK(tlb.find(kSuper, tlb_right(Access::Read, false)) != nullptr);
    CHECK(tlb.find(kUserRw, tlb_right(Access::Read, true)) == nullptr);
    tlb.flush_all();
    CHECK(tlb.find(kSuper, tlb_right(Access::Read, false)) == nullptr);
}

TEST_CASE("a 1 GiB mapping translates, and INVLPG anywhere in it drops its TLB pieces") {
    Tables t;
    t.set(t.pdpt, 1, 0x80000000ULL | P | RW | PS | G); // linear 1 GiB -> physical 2 GiB
    auto r = walk_page_tables(t.mem, t.control(), 0x40000000ULL + 0x2345678, Access::Read, false);
    REQUIRE(r.ok);
    CHECK(r.physical == 0x80000000ULL + 0x2345678);
    CHECK(r.page_size == (1ULL << 30));
    Tlb tlb;
    for (uint64_t off : {0x0ULL, 0x3ff00000ULL}) {
        auto piece = walk_page_tables(t.mem, t.control(), 0x40000000ULL + off, Access::Read, false);
        tlb.insert(0x40000000ULL + off, piece, true, false, nullptr);
    }
    CHECK(tlb.find(0x40000000ULL, tlb_right(Access::Read, false)) != nullptr);
    tlb.flush_page(0x40000000ULL + 0x12345000);
    CHECK(tlb.find(0x40000000ULL, tlb_right(Access::Read, false)) == nullptr);
    CHECK(tlb.find(0x40000000ULL + 0x3ff00000ULL, tlb_right(Access::Read, false)) == nullptr);
}

TEST_CASE("INVLPG of one 4 KiB piece drops every entry of the same 2 MiB mapping") {
    Tables t;
    Tlb tlb;
    for (uint64_t off : {0x0ULL, 0x5000ULL, 0x1ff000ULL}) {
        auto r = walk_page_tables(t.mem, t.control(), kLarge + off, Access::Read, false);
        REQUIRE(r.ok);
        tlb.insert(kLarge + off, r, true, false, nullptr);
    }
    CHECK(tlb.find(kLarge + 0x5000, tlb_right(Access::Read, false)) != nullptr);
    tlb.flush_page(kLarge + 0x123000);
    CHECK(tlb.find(kLarge, tlb_right(Access::Read, false)) == nullptr);
    CHECK(tlb.find(kLarge + 0x5000, tlb_right(Access::Read, false)) == nullptr);
    CHECK(tlb.find(kLarge + 0x1ff000, tlb_right(Access::Read, false)) == nullptr);
}
