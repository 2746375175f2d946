#include "guest-model/error.h"
#include "recorder/machine/e820_map.h"

#include <doctest/doctest.h>

using krr::E820Type;

TEST_CASE("e820: sorted, disjoint, RAM where the guest has RAM and nowhere else") {
    for (uint64_t size : {16ULL << 20, 512ULL << 20, 3ULL << 30}) {
        CAPTURE(size);
        auto map = krr::build_e820_map(size);
        REQUIRE(!map.empty());
        uint64_t ram = 0;
        for (size_t i = 0; i < map.size(); ++i) {
            CHECK(map[i].size > 0);
            if (i > 0)
                CHECK(map[i - 1].address + map[i - 1].size <= map[i].address);
            if (map[i].type == E820Type::Ram) {
                ram += map[i].size;
                CHECK(map[i].address + map[i].size <= size);
                // Nothing between the EBDA and 1 MiB is usable RAM.
                bool below = map[i].address + map[i].size <= 0x9fc00;
                bool above = map[i].address >= 0x100000;
                CHECK((below || above));
            }
        }
        CHECK(ram == 0x9fc00 + (size - 0x100000));
        auto reserved = [&](uint64_t address) {
            for (auto& e : map)
                if (e.type == E820Type::Reserved && address >= e.address &&
                    address < e.address + e.size)
                    return true;
            return false;
        };
        CHECK(reserved(0x9fc00));
        CHECK(reserved(0xfec00000));
        CHECK(reserved(0xfee00000));
    }
}

TEST_CASE("e820: sizes that cannot work are errors") {
    CHECK_THROWS_AS(krr::build_e820_map(1 << 20), krr::Error);
    CHECK_THROWS_AS(krr::build_e820_map((512ULL << 20) + 1), krr::Error);
    CHECK_THROWS_AS(krr::build_e820_map(4ULL << 30), krr::Error);
}
