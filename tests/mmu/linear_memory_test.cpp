#include "replay-engine/mmu/linear_memory.h"

#include <algorithm>
#include <cstring>
#include <doctest/doctest.h>
#include <map>
#include <vector>

using namespace krr;

namespace {

constexpr uint64_t P = 1, RW = 2, US = 4;

struct RecordingMmio : MmioHandler {
    std::vector<std::pair<uint64_t, int>> reads;
    std::map<uint64_t, uint64_t> writes;
    uint64_t mmio_read(uint64_t physical, int size) override {
        reads.emplace_back(physical, size);
        return 0x1122334455667788ULL;
    }
    void mmio_write(uint64_t physical, int size, uint64_t value) override {
        (void)size;
        writes[physical] = value;
    }
};

// Linear 0x400000 + i*4K -> physical 0x100000 + i*4K for i < 3 (user, RW);
// page 3 not present; page 4 -> MMIO at 0xfee00000.
struct Fixture {
    GuestMemory ram{8 << 20};
    RecordingMmio mmio;
    LinearMemory mem{ram, &mmio};
    void set(uint64_t pa, uint64_t v) { std::memcpy(ram.host(pa, 8), &v, 8); }
    Fixture() {
        set(0x1000, 0x2000 | P | RW | US);
        set(0x2000, 0x3000 | P | RW | US);
        set(0x3000 + 2 * 8, 0x4000 | P | RW | US);
        for (uint64_t i = 0; i < 3; ++i) {
            set(0x4000 + i * 8, (0x100000 + i * 0x1000) | P | RW | US);
        }
        set(0x4000 + 4 * 8, 0xfee00000 | P | RW);
        mem.set_paging(
            {(1ULL << 31) | (1ULL << 16) | 1, 0x1000, 1ULL << 5, (1ULL << 8) | (1ULL << 10)});
    }
};

} // namespace

TEST_CASE("reads and writes reach RAM through the page tables, across pages too") {
    Fixture f;
    f.mem.write<uint32_t>(0x400010, 0xdeadbeef, true);
    uint32_t raw;
    std::memcpy(&raw, f.ram.host(0x100010, 4), 4);
    CHECK(raw == 0xdeadbeef);
    CHECK(f.mem.read<uint32_t>(0x400010, true) == 0xdeadbeef);

    // An 8-byte value straddling pages 0 and 1 lands in two physical pages.
    f.mem.write<uint64_t>(0x400ffc, 0x0102030405060708ULL, true);
    CHECK(*f.ram.host(0x100ffc, 1) == 0x08);
    CHECK(*f.ram.host(0x101003, 1) == 0x01);
    CHECK(f.mem.read<uint64_t>(0x400ffc, true) == 0x0102030405060708ULL);
}

TEST_CASE("a write straddling into an absent page faults and writes nothing") {
    Fixture f;
    bool faulted = false;
    try {
        f.mem.write<uint64_t>(0x402ffc, ~0ULL, false);
    } catch (const GuestFault& g) {
        faulted = true;
        CHECK(g.vector == kPageFault);
        CHECK(g.cr2 == 0x403000);
        CHECK(g.error_code == kPfWrite);
    }
    CHECK(faulted);
    uint32_t raw;
    std::memcpy(&raw, f.ram.host(0x102ffc, 4), 4);
    CHECK(raw == 0);
}

TEST_CASE("non-canonical addresses raise #GP, not #PF") {
    Fixture f;
    try {
        f.mem.read<uint8_t>(0x0000800000000000ULL, false);
        FAIL("no fault");
    } catch (const GuestFault& g) {
        CHECK(g.vector == kGeneralProtection);
    }
}

TEST_CASE("MMIO accesses are split into naturally aligned pieces") {
    Fixture f;
    CHECK(f.mem.read<uint32_t>(0x404020, false) == 0x55667788u);
    REQUIRE(f.mmio.reads.size() == 1);
    CHECK(f.mmio.reads[0] == std::make_pair<uint64_t, int>(0xfee00020, 4));
    f.mem.write<uint32_t>(0x404030, 0x12345678, false);
    CHECK(f.mmio.writes[0xfee00030] == 0x12345678);
    f.mmio.reads.clear();
    (void)f.mem.read<uint32_t>(0x404001, false); // unaligned: 1 + 2 + 1
    CHECK(f.mmio.reads.size() == 3);
}

TEST_CASE("writes to a code page notify the observer once, then run at full speed") {
    Fixture f;
    std::vector<uint64_t> seen;
    f.mem.set_code_write_observer([&](uint64_t page) { seen.push_back(page); });
    (void)f.mem.read<uint8_t>(0x401000, false);
    f.mem.write<uint8_t>(0x401000, 1, false); // TLB now has write rights
    f.mem.protect_code_page(0x101000);
    f.mem.write<uint8_t>(0x401004, 2, false);
    f.mem.write<uint8_t>(0x401008, 3, false);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == 0x101000);
    CHECK(*f.ram.host(0x101008, 1) == 3);
}

TEST_CASE("instruction fetch stops at an unmapped page and reports the bytes it got") {
    Fixture f;
    std::memset(f.ram.host(0x102ff8, 8), 0x90, 8);
    uint8_t buf[15];
    CHECK(f.mem.fetch(0x402ff8, buf, false) == 8);
    CHECK(buf[7] == 0x90);
    CHECK_THROWS_AS(f.mem.fetch_fault(0x403000, false), GuestFault);
    CHECK_THROWS_AS(f.mem.fetch(0x403000, buf, false), GuestFault);
}

TEST_CASE("the debugger view has no side effects") {
    Fixture f;
    uint8_t buf[16];
    CHECK(f.mem.debug_read(0x402ff8, buf) == 8); // stops at the absent page
    uint64_t pte;
    std::memcpy(&pte, f.ram.host(0x4000 + 2 * 8, 8), 8);
    CHECK((pte & 0x20) == 0); // accessed bit untouched
    CHECK(f.mem.debug_read(0x404000, buf) == 16);
    CHECK(buf[0] == 0xff);
    CHECK(f.mmio.reads.empty());
}

TEST_CASE("dirty tracking reports each written page once per round, without page walks") {
    Fixture f;
    std::vector<uint64_t> code_writes;
    f.mem.set_code_write_observer([&](uint64_t page) { code_writes.push_back(page); });
    f.mem.write<uint64_t>(0x400000, 1, true); // fill the TLB with write rights
    f.mem.start_dirty_tracking();
    // Clear the accessed bit of the PTE: a page walk would set it again.
    uint64_t pte;
    std::memcpy(&pte, f.ram.host(0x4000, 8), 8);
    pte &= ~0x20ULL;
    std::memcpy(f.ram.host(0x4000, 8), &pte, 8);

    f.mem.write<uint64_t>(0x400010, 2, true);
    f.mem.write<uint64_t>(0x400018, 3, true);
    f.mem.write<uint8_t>(0x401000, 4, true);
    uint8_t byte = 5;
    f.mem.debug_write(0x402000, std::span(&byte, 1));
    auto dirty = f.mem.take_dirty_pages();
    std::sort(dirty.begin(), dirty.end());
    CHECK(dirty == std::vector<uint64_t>{0x100000, 0x101000, 0x102000});
    std::memcpy(&pte, f.ram.host(0x4000, 8), 8);
    CHECK((pte & 0x20) == 0); // the restored write right needed no walk

    // A new round: only pages written since the last take.
    f.mem.write<uint64_t>(0x400020, 6, true);
    CHECK(f.mem.take_dirty_pages() == std::vector<uint64_t>{0x100000});
    CHECK(f.mem.take_dirty_pages().empty());

    // A page that holds code and is tracked: both observers see the write.
    f.mem.protect_code_page(0x101000);
    f.mem.write<uint8_t>(0x401008, 7, true);
    CHECK(code_writes == std::vector<uint64_t>{0x101000});
    CHECK(f.mem.take_dirty_pages() == std::vector<uint64_t>{0x101000});
    CHECK(*f.ram.host(0x101008, 1) == 7);
}
