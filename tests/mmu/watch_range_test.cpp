#include "replay-engine/mmu/linear_memory.h"

#include <cstring>
#include <doctest/doctest.h>
#include <vector>

using namespace krr;

namespace {

constexpr uint64_t P = 1, RW = 2, US = 4, kAccessed = 0x20, kDirty = 0x40;
constexpr uint64_t kPageTable = 0x4000, kLargePage = 0x80;

// Linear 0x400000 + i*4K -> physical 0x100000 + i*4K: pages 0-2 user
// read/write, page 3 absent, page 5 supervisor only, page 6 user read-only;
// linear 0x600000 -> physical 0x600000 as one 2 MiB user page.
// The page-table entries start with their accessed and dirty bits clear.
struct Fixture {
    GuestMemory ram{8 << 20};
    LinearMemory mem{ram, nullptr};
    void set(uint64_t pa, uint64_t v) { std::memcpy(ram.host(pa, 8), &v, 8); }
    uint64_t get(uint64_t pa) {
        uint64_t v;
        std::memcpy(&v, ram.host(pa, 8), 8);
        return v;
    }
    uint64_t pte(int index) { return get(kPageTable + static_cast<uint64_t>(index) * 8); }
    void clear_accessed(int index) {
        set(kPageTable + static_cast<uint64_t>(index) * 8, pte(index) & ~kAccessed);
    }
    Fixture() {
        set(0x1000, 0x2000 | P | RW | US);
        set(0x2000, 0x3000 | P | RW | US);
        set(0x3000 + 2 * 8, kPageTable | P | RW | US);
        for (uint64_t i = 0; i < 3; ++i) {
            set(kPageTable + i * 8, (0x100000 + i * 0x1000) | P | RW | US);
        }
        set(kPageTable + 5 * 8, 0x105000 | P | RW);
        set(kPageTable + 6 * 8, 0x106000 | P | US);
        set(0x3000 + 3 * 8, 0x600000 | P | RW | US | kLargePage);
        mem.set_paging(
            {(1ULL << 31) | (1ULL << 16) | 1, 0x1000, 1ULL << 5, (1ULL << 8) | (1ULL << 10)});
    }
    void watch(uint64_t address, uint64_t length, WatchKind kind) {
        mem.set_watch_ranges({WatchRange{address, length, kind}});
    }
};

void check_hit(LinearMemory& mem, uint64_t address, WatchKind kind, bool write) {
    REQUIRE(mem.has_watch_hit());
    WatchHit hit = mem.take_watch_hit();
    CHECK(hit.address == address);
    CHECK(hit.kind == kind);
    CHECK(hit.write == write);
    CHECK_FALSE(mem.has_watch_hit());
}

} // namespace

TEST_CASE("a write watch reports writes into its range and ignores reads") {
    Fixture f;
    f.watch(0x400100, 8, WatchKind::Write);
    CHECK_FALSE(f.mem.has_watch_hit());
    (void)f.mem.read<uint64_t>(0x400100, true);
    std::vector<uint8_t> out(8);
    f.mem.read_bytes(0x400100, out, true);
    CHECK_FALSE(f.mem.has_watch_hit());

    f.mem.write<uint32_t>(0x400104, 0xcafef00d, true);
    check_hit(f.mem, 0x400104, WatchKind::Write, true);
    uint32_t raw;
    std::memcpy(&raw, f.ram.host(0x100104, 4), 4);
    CHECK(raw == 0xcafef00d); // the watched write still lands
}

TEST_CASE("a read watch reports reads only; an access watch reports both") {
    Fixture f;
    f.watch(0x400200, 4, WatchKind::Read);
    f.mem.write<uint32_t>(0x400200, 7, false);
    CHECK_FALSE(f.mem.has_watch_hit());
    CHECK(f.mem.read<uint32_t>(0x400200, false) == 7);
    check_hit(f.mem, 0x400200, WatchKind::Read, false);

    f.watch(0x400200, 4, WatchKind::Access);
    CHECK(f.mem.read<uint16_t>(0x400202, true) == 0);
    check_hit(f.mem, 0x400202, WatchKind::Access, false);
    f.mem.write<uint8_t>(0x400203, 1, true);
    check_hit(f.mem, 0x400203, WatchKind::Access, true);
}

TEST_CASE("an access partly overlapping the range hits at the first watched byte it touches") {
    Fixture f;
    f.watch(0x400100, 4, WatchKind::Write);
    f.mem.write<uint64_t>(0x4000f8, 1, true); // ends at 0x4000ff, just before
    f.mem.write<uint8_t>(0x400104, 1, true);  // just after
    f.mem.write<uint32_t>(0x400104, 1, true);
    CHECK_FALSE(f.mem.has_watch_hit());

    f.mem.write<uint64_t>(0x4000fc, 2, true); // covers the whole range and more
    check_hit(f.mem, 0x400100, WatchKind::Write, true);
    f.mem.write<uint16_t>(0x400103, 3, true); // the last watched byte and one after
    check_hit(f.mem, 0x400103, WatchKind::Write, true);
    std::vector<uint8_t> bytes(32, 0x5a);
    f.mem.write_bytes(0x4000f0, bytes, true);
    check_hit(f.mem, 0x400100, WatchKind::Write, true);
}

TEST_CASE("a range spanning two pages watches both of them") {
    Fixture f;
    f.watch(0x400ffe, 4, WatchKind::Access); // 0x400ffe..0x401001
    (void)f.mem.read<uint8_t>(0x401002, true);
    (void)f.mem.read<uint8_t>(0x400ffd, true);
    CHECK_FALSE(f.mem.has_watch_hit());

    (void)f.mem.read<uint8_t>(0x401001, true);
    check_hit(f.mem, 0x401001, WatchKind::Access, false);
    (void)f.mem.read<uint16_t>(0x400ffd, true);
    check_hit(f.mem, 0x400ffe, WatchKind::Access, false);
    f.mem.write<uint64_t>(0x400ffc, 0x1122334455667788ULL, true); // crosses the boundary
    check_hit(f.mem, 0x400ffe, WatchKind::Access, true);
    CHECK(f.mem.read<uint64_t>(0x400ffc, true) == 0x1122334455667788ULL);
    (void)f.mem.take_watch_hit();
    f.mem.write<uint32_t>(0x401000, 9, true);
    check_hit(f.mem, 0x401000, WatchKind::Access, true);
}

TEST_CASE("accesses to a watched page outside the range are not hits and still work") {
    Fixture f;
    f.watch(0x400800, 4, WatchKind::Access);
    f.mem.write<uint64_t>(0x400000, 0x0102030405060708ULL, true);
    CHECK(f.mem.read<uint64_t>(0x400000, true) == 0x0102030405060708ULL);
    f.mem.write<uint32_t>(0x4007fc, 0xaabbccdd, false);
    CHECK(f.mem.read<uint32_t>(0x400804, false) == 0);
    f.mem.write<uint16_t>(0x400fff, 0x1234, true); // into the unwatched page 1
    CHECK(f.mem.read<uint16_t>(0x400fff, true) == 0x1234);
    (void)f.mem.read<uint32_t>(0x401800, true); // same offset, other page
    CHECK_FALSE(f.mem.has_watch_hit());
    uint64_t raw;
    std::memcpy(&raw, f.ram.host(0x100000, 8), 8);
    CHECK(raw == 0x0102030405060708ULL);
    uint32_t raw32;
    std::memcpy(&raw32, f.ram.host(0x1007fc, 4), 4);
    CHECK(raw32 == 0xaabbccdd);
}

TEST_CASE("the first hit is kept until it is taken") {
    Fixture f;
    f.mem.set_watch_ranges(
        {WatchRange{0x400100, 1, WatchKind::Write}, WatchRange{0x401200, 1, WatchKind::Write}});
    f.mem.write<uint8_t>(0x401200, 1, true);
    f.mem.write<uint8_t>(0x400100, 2, true);
    check_hit(f.mem, 0x401200, WatchKind::Write, true);
    f.mem.write<uint8_t>(0x400100, 3, true);
    check_hit(f.mem, 0x400100, WatchKind::Write, true);
}

TEST_CASE("a watch set after the TLB holds full rights still sees the next access") {
    Fixture f;
    f.mem.write<uint64_t>(0x400100, 1, true); // the TLB entry now allows fast writes
    CHECK(f.mem.read<uint64_t>(0x400100, true) == 1);
    f.watch(0x400100, 8, WatchKind::Access);
    f.mem.write<uint8_t>(0x400107, 2, true);
    check_hit(f.mem, 0x400107, WatchKind::Access, true);
    (void)f.mem.read<uint8_t>(0x400100, true);
    check_hit(f.mem, 0x400100, WatchKind::Access, false);
}

TEST_CASE("clearing the ranges ends the hits") {
    Fixture f;
    f.watch(0x400100, 8, WatchKind::Access);
    f.mem.write<uint8_t>(0x400100, 1, true);
    check_hit(f.mem, 0x400100, WatchKind::Access, true);
    f.mem.set_watch_ranges({});
    CHECK(f.mem.watch_ranges().empty());
    f.mem.write<uint8_t>(0x400100, 2, true);
    CHECK(f.mem.read<uint8_t>(0x400100, true) == 2);
    std::vector<uint8_t> bytes(16, 3);
    f.mem.write_bytes(0x4000f8, bytes, true);
    CHECK_FALSE(f.mem.has_watch_hit());
}

TEST_CASE("a watched page's accesses do not walk the page tables after the first fill") {
    // A walk sets the accessed bit; the recorded run made no walk here, so
    // one in replay would change guest memory and the replay would diverge.
    Fixture f;
    f.watch(0x400100, 8, WatchKind::Access);
    f.mem.write<uint64_t>(0x400000, 1, true); // first fill: sets A and D
    REQUIRE((f.pte(0) & (kAccessed | kDirty)) == (kAccessed | kDirty));
    f.clear_accessed(0);
    f.mem.start_dirty_tracking();
    for (uint64_t i = 0; i < 50; ++i) {
        f.mem.write<uint32_t>(0x400000 + i * 8, static_cast<uint32_t>(i), true);
        CHECK(f.mem.read<uint32_t>(0x400000 + i * 8, true) == i);
        (void)f.mem.read<uint64_t>(0x400100, false);
        f.mem.write<uint8_t>(0x400104, static_cast<uint8_t>(i), false);
        std::vector<uint8_t> out(16);
        f.mem.read_bytes(0x4000f8, out, true);
        (void)f.mem.take_watch_hit();
    }
    CHECK((f.pte(0) & kAccessed) == 0);
    // Dirty tracking still sees the page written, once.
    CHECK(f.mem.take_dirty_pages() == std::vector<uint64_t>{0x100000});
    f.mem.write<uint8_t>(0x400104, 1, true);
    CHECK((f.pte(0) & kAccessed) == 0);
}

TEST_CASE("a first write to a watched page that was only read still sets the dirty bit") {
    Fixture f;
    f.watch(0x401000, 4, WatchKind::Write);
    (void)f.mem.read<uint32_t>(0x401000, true);
    CHECK((f.pte(1) & kAccessed) != 0);
    CHECK((f.pte(1) & kDirty) == 0);
    f.mem.write<uint32_t>(0x401800, 5, true); // outside the range
    CHECK((f.pte(1) & kDirty) != 0);
    CHECK_FALSE(f.mem.has_watch_hit());
}

TEST_CASE("a watched page holding decoded code still tells the code observer about writes") {
    Fixture f;
    std::vector<uint64_t> seen;
    f.mem.set_code_write_observer([&](uint64_t page) { seen.push_back(page); });
    f.mem.write<uint8_t>(0x401000, 1, true);
    f.mem.protect_code_page(0x101000);
    f.watch(0x401800, 1, WatchKind::Write);
    f.mem.write<uint8_t>(0x401004, 2, true);
    CHECK(seen == std::vector<uint64_t>{0x101000});
    CHECK(*f.ram.host(0x101004, 1) == 2);
    CHECK_FALSE(f.mem.has_watch_hit());
}

TEST_CASE("watching a page does not grant rights the mapping lacks") {
    Fixture f;
    f.mem.set_watch_ranges(
        {WatchRange{0x405000, 8, WatchKind::Access}, WatchRange{0x406000, 8, WatchKind::Access}});
    (void)f.mem.read<uint64_t>(0x405000, false); // supervisor: fine
    (void)f.mem.take_watch_hit();
    try {
        (void)f.mem.read<uint64_t>(0x405010, true);
        FAIL("a user read of a supervisor page did not fault");
    } catch (const GuestFault& g) {
        CHECK(g.vector == kPageFault);
        CHECK(g.cr2 == 0x405010);
    }
    (void)f.mem.read<uint64_t>(0x406010, true); // read-only page: reads are fine
    try {
        f.mem.write<uint64_t>(0x406010, 1, true);
        FAIL("a user write to a read-only page did not fault");
    } catch (const GuestFault& g) {
        CHECK(g.vector == kPageFault);
        CHECK(g.cr2 == 0x406010);
    }
    try {
        f.mem.write<uint64_t>(0x406010, 1, false); // CR0.WP is set
        FAIL("a supervisor write to a read-only page did not fault");
    } catch (const GuestFault& g) {
        CHECK(g.vector == kPageFault);
    }
    CHECK(*f.ram.host(0x106010, 1) == 0);
}

TEST_CASE("in a 2 MiB page only the 4 KiB pages holding the range are watched, without walks") {
    Fixture f;
    const uint64_t pde = 0x3000 + 3 * 8;
    f.watch(0x6ff000, 8, WatchKind::Access);
    f.mem.write<uint64_t>(0x6fe000, 1, true); // same large page, another 4 KiB
    f.mem.write<uint64_t>(0x6ff008, 2, true); // the watched 4 KiB, outside the range
    (void)f.mem.read<uint64_t>(0x600000, true);
    CHECK_FALSE(f.mem.has_watch_hit());
    f.mem.write<uint32_t>(0x6ff004, 3, true);
    check_hit(f.mem, 0x6ff004, WatchKind::Access, true);
    uint32_t raw;
    std::memcpy(&raw, f.ram.host(0x6ff004, 4), 4);
    CHECK(raw == 3);

    f.set(pde, f.get(pde) & ~kAccessed);
    for (uint64_t i = 0; i < 20; ++i) {
        f.mem.write<uint64_t>(0x6ff000 + 8 * i, i, true);
        (void)f.mem.read<uint64_t>(0x6ff000 + 8 * i, false);
        (void)f.mem.take_watch_hit();
    }
    CHECK((f.get(pde) & kAccessed) == 0);
}
