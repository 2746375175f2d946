// The MP table parsed by a reader written here from the MP specification
// 1.4 (chapter 4), the way Linux's mpparse.c reads it: find "_MP_" on a
// 16-byte boundary, check both checksums, walk the entries.
#include "machine_fixture.h"
#include "recorder/machine/mp_table.h"

#include <cstring>
#include <doctest/doctest.h>
#include <map>
#include <vector>

namespace {

struct ParsedMpTable {
    std::vector<std::pair<uint8_t, uint8_t>> cpus; // APIC ID, flags
    std::string bus_type;
    uint8_t io_apic_id = 0;
    uint32_t io_apic_address = 0;
    uint32_t local_apic_address = 0;
    std::map<uint8_t, uint8_t> isa_irq_to_pin;                 // INT entries
    std::vector<std::pair<uint8_t, uint8_t>> local_interrupts; // type, LINT#
    size_t entries = 0;
};

uint32_t le32(const uint8_t* p) {
    return p[0] | p[1] << 8 | p[2] << 16 | uint32_t(p[3]) << 24;
}
uint16_t le16(const uint8_t* p) {
    return uint16_t(p[0] | p[1] << 8);
}

uint8_t sum(const uint8_t* p, size_t n) {
    uint8_t s = 0;
    for (size_t i = 0; i < n; ++i)
        s = uint8_t(s + p[i]);
    return s;
}

ParsedMpTable parse(const uint8_t* memory, uint64_t scan_begin, uint64_t scan_length) {
    ParsedMpTable t;
    const uint8_t* fp = nullptr;
    for (uint64_t a = scan_begin; a < scan_begin + scan_length; a += 16) {
        if (std::memcmp(memory + a, "_MP_", 4) == 0 && memory[a + 8] == 1 &&
            sum(memory + a, 16) == 0 && (memory[a + 9] == 1 || memory[a + 9] == 4)) {
            fp = memory + a;
            break;
        }
    }
    REQUIRE(fp != nullptr);
    CHECK(fp[11] == 0); // a configuration table follows, no default configuration
    const uint8_t* mpc = memory + le32(fp + 4);
    REQUIRE(std::memcmp(mpc, "PCMP", 4) == 0);
    uint16_t length = le16(mpc + 4);
    CHECK(sum(mpc, length) == 0);
    CHECK(mpc[6] == 4);
    t.local_apic_address = le32(mpc + 36);
    uint16_t count = le16(mpc + 34);
    const uint8_t* p = mpc + 44;
    for (uint16_t i = 0; i < count; ++i) {
        REQUIRE(p < mpc + length);
        switch (p[0]) {
        case 0:
            t.cpus.push_back({p[1], p[3]});
            p += 20;
            break;
        case 1:
            t.bus_type.assign(reinterpret_cast<const char*>(p + 2), 6);
            p += 8;
            break;
        case 2:
            t.io_apic_id = p[1];
            CHECK((p[3] & 1) != 0);
            t.io_apic_address = le32(p + 4);
            p += 8;
            break;
        case 3:
            if (p[1] == 0) {
                CHECK(le16(p + 2) == 0); // conforming polarity and trigger
                CHECK(p[6] == t.io_apic_id);
                t.isa_irq_to_pin[p[5]] = p[7];
            }
            p += 8;
            break;
        case 4:
            t.local_interrupts.push_back({p[1], p[7]});
            CHECK(p[6] == 0xff);
            p += 8;
            break;
        default:
            FAIL("unknown MP entry type " << int(p[0]));
        }
        ++t.entries;
    }
    CHECK(p == mpc + length);
    return t;
}

} // namespace

TEST_CASE("the MP table in the EBDA describes the machine") {
    krr::MachineConfig config = krr::test::small_machine_config();
    config.vcpus = 3;
    krr::Machine machine(config, {});
    const uint8_t* memory = machine.memory().base();
    // mpparse scans [639 KiB, 640 KiB) and the EBDA named by the BDA word at 0x40e.
    CHECK(le16(memory + 0x40e) == 0x9fc0);
    ParsedMpTable t = parse(memory, 639 * 1024, 1024);
    REQUIRE(t.cpus.size() == 3);
    for (uint8_t i = 0; i < 3; ++i) {
        CHECK(t.cpus[i].first == i);
        CHECK((t.cpus[i].second & 1) == 1);               // enabled
        CHECK(((t.cpus[i].second & 2) != 0) == (i == 0)); // BSP
    }
    CHECK(t.bus_type == "ISA   ");
    CHECK(t.io_apic_id == 3);
    CHECK(t.io_apic_address == 0xfec00000);
    CHECK(t.local_apic_address == 0xfee00000);
    CHECK(t.isa_irq_to_pin.at(0) == 2);
    CHECK(t.isa_irq_to_pin.count(2) == 0);
    for (uint8_t irq = 1; irq < 16; ++irq) {
        if (irq != 2)
            CHECK(t.isa_irq_to_pin.at(irq) == irq);
    }
    REQUIRE(t.local_interrupts.size() == 2);
    CHECK(t.local_interrupts[0] == std::pair<uint8_t, uint8_t>{3, 0}); // ExtINT on LINT0
    CHECK(t.local_interrupts[1] == std::pair<uint8_t, uint8_t>{1, 1}); // NMI on LINT1
}

TEST_CASE("impossible MP configurations are errors") {
    krr::MpTableConfig config;
    config.cpus = 0;
    CHECK_THROWS_AS(krr::build_mp_table(0x9fc00, config), krr::Error);
    config.cpus = 2;
    config.io_apic_id = 1; // collides with CPU 1's APIC ID
    CHECK_THROWS_AS(krr::build_mp_table(0x9fc00, config), krr::Error);
}
