#include "guest-model/error.h"
#include "guest-model/symbols.h"

#include <doctest/doctest.h>

using krr::SymbolTable;

namespace {

// Shaped like the Debian kernel's System.map: per-CPU symbols at small
// addresses, absolute constants, aliases at one address, end markers.
const char* const map_text = "0000000000000000 D __per_cpu_start\n"
                             "0000000000000000 D fixed_percpu_data\n"
                             "00000000000001ea A kexec_control_code_size\n"
                             "0000000000035000 D __per_cpu_end\n"
                             "ffffffff81000000 T _text\n"
                             "ffffffff81000000 T startup_64\n"
                             "ffffffff81000070 T secondary_startup_64\n"
                             "ffffffff81001000 t helper\n"
                             "ffffffff81001000 t helper_alias\n"
                             "ffffffff81002000 t helper\n"
                             "ffffffff81003000 T do_syscall_64\r\n"
                             "\n"
                             "ffffffff84430000 B _end\n";

} // namespace

TEST_CASE("symbols: lookup finds the containing symbol and the offset into it") {
    auto table = SymbolTable::parse(map_text, "System.map");
    CHECK(table.size() == 11); // everything but the absolute symbol

    auto m = table.lookup(0xffffffff81000075);
    REQUIRE(m);
    CHECK(m->symbol->name == "secondary_startup_64");
    CHECK(m->offset == 5);
    CHECK(m->symbol->type == 'T');

    // Aliases: the marker "_text" yields to the function's own name.
    auto start = table.lookup(0xffffffff81000000);
    REQUIRE(start);
    CHECK(start->symbol->name == "startup_64");
    CHECK(start->offset == 0);
    // Two aliases without markers: the first in the map wins.
    CHECK(table.lookup(0xffffffff81001004)->symbol->name == "helper");

    CHECK(table.describe(0xffffffff81003010) == "do_syscall_64+0x10");
    CHECK(table.describe(0xffffffff81003000) == "do_syscall_64");
    CHECK(table.lookup(0xffffffff84430000)->symbol->name == "_end");
}

TEST_CASE("symbols: addresses outside every symbol find nothing") {
    auto table = SymbolTable::parse(map_text, "System.map");
    // A user-space address, far past the per-CPU area.
    CHECK_FALSE(table.lookup(0x401000));
    CHECK(table.describe(0x401000) == "0x401000");
    // Past the last symbol (the end marker).
    CHECK_FALSE(table.lookup(0xffffffff84430001));
    // Within the per-CPU area, where the marker yields to the object.
    CHECK(table.lookup(0x10)->symbol->name == "fixed_percpu_data");
    // Inside a huge gap with a tighter bound.
    CHECK_FALSE(table.lookup(0xffffffff81003000 + 0x200, 0x100));
    CHECK(table.lookup(0xffffffff81003000 + 0x100, 0x100));
    CHECK_FALSE(SymbolTable::parse("", "empty").lookup(0));
}

TEST_CASE("symbols: names resolve to their lowest address, absolute ones included") {
    auto table = SymbolTable::parse(map_text, "System.map");
    CHECK(table.address_of("do_syscall_64") == 0xffffffff81003000);
    CHECK(table.address_of("helper") == 0xffffffff81001000);
    CHECK(table.address_of("kexec_control_code_size") == 0x1ea);
    CHECK_FALSE(table.address_of("no_such_symbol"));
    CHECK_FALSE(table.address_of("do_syscall"));
}

TEST_CASE("symbols: /proc/kallsyms lines with a module tag are accepted") {
    auto table = SymbolTable::parse("ffffffffc0001000 t bug_init\t[bugdrv]\n", "kallsyms");
    CHECK(table.address_of("bug_init") == 0xffffffffc0001000);
}

TEST_CASE("symbols: nm's '?' type (an unclassified section) is accepted") {
    auto table = SymbolTable::parse("ffffffff81000000 T _stext\n"
                                    "ffffffff83a1b000 ? __nosave_begin\n",
                                    "map");
    CHECK(table.address_of("__nosave_begin") == 0xffffffff83a1b000);
    CHECK_THROWS_WITH_AS(SymbolTable::parse("ffffffff81000000 ! x\n", "map"),
                         doctest::Contains("one-letter"), krr::Error);
}

TEST_CASE("symbols: malformed lines are errors naming the line") {
    CHECK_THROWS_WITH_AS(SymbolTable::parse("ffffffff81000000 T a\nzzzz T b\n", "map"),
                         doctest::Contains("map: line 2"), krr::Error);
    CHECK_THROWS_WITH_AS(SymbolTable::parse("ffffffff81000000 T\n", "map"),
                         doctest::Contains("missing symbol name"), krr::Error);
    CHECK_THROWS_WITH_AS(SymbolTable::parse("ffffffff81000000 TT x\n", "map"),
                         doctest::Contains("one-letter"), krr::Error);
    CHECK_THROWS_WITH_AS(SymbolTable::parse("1ffffffff81000000 T x\n", "map"),
                         doctest::Contains("not a hex address"), krr::Error);
    CHECK_THROWS_WITH_AS(SymbolTable::parse("ffffffff81000000 T x y\n", "map"),
                         doctest::Contains("unexpected text"), krr::Error);
    CHECK_THROWS_WITH_AS(SymbolTable::parse("ffffffff81000000 T " + std::string(2000, 'n'), "m"),
                         doctest::Contains("longer than"), krr::Error);
    CHECK_THROWS_WITH_AS(SymbolTable::load("/nonexistent/System.map"),
                         doctest::Contains("symbols: /nonexistent/System.map"), krr::Error);
}
