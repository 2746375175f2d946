// The ELF symbol file written from a small System.map, read back with libelf
// and checked against sections and symbols worked out by hand from the map.
#include "guest-model/error.h"
#include "guest-model/symbol_elf.h"
#include "guest-model/symbols.h"
#include "trace/temp_dir.h"

#include <cstdio>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gelf.h>
#include <iterator>
#include <libelf.h>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

// Per-CPU offsets, an absolute constant, marker aliases, local, global and
// weak functions, read-only, data and bss objects, gaps beyond the 1 MiB
// size cap, and types gdb has no use for (w, U).
constexpr const char* small_map = "0000000000000000 D __per_cpu_start\n"
                                  "0000000000000000 D fixed_percpu_data\n"
                                  "0000000000000000 w weak_undefined\n"
                                  "00000000000001ea A kexec_control_code_size\n"
                                  "0000000000001000 D cpu_number\n"
                                  "ffffffff81000000 T _stext\n"
                                  "ffffffff81000000 T startup_64\n"
                                  "ffffffff81000040 t helper_local\n"
                                  "ffffffff81000100 W weak_fn\n"
                                  "ffffffff81000180 T last_text\n"
                                  "ffffffff82000000 R __start_rodata\n"
                                  "ffffffff82000000 r some_table\n"
                                  "ffffffff82000800 D data_object\n"
                                  "ffffffff82000810 d local_data\n"
                                  "ffffffff82001000 B bss_object\n"
                                  "ffffffff82001008 b local_bss\n"
                                  "ffffffff82001010 U undefined_thing\n"
                                  "ffffffff83000000 B _end\n";

struct ReadSection {
    std::string name;
    GElf_Shdr header{};
};

struct ReadSymbol {
    std::string name;
    GElf_Sym sym{};
    size_t index = 0;
};

struct ReadElf {
    GElf_Ehdr header{};
    std::vector<ReadSection> sections; // by index; 0 is the null section
    std::vector<ReadSymbol> symbols;   // in table order, without entry 0
    size_t symtab_index = 0;
};

ReadElf read_elf(const std::string& path) {
    REQUIRE(elf_version(EV_CURRENT) != EV_NONE);
    const int fd = ::open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
    REQUIRE(elf != nullptr);
    ReadElf out;
    REQUIRE(gelf_getehdr(elf, &out.header) != nullptr);
    size_t shstrndx = 0;
    REQUIRE(elf_getshdrstrndx(elf, &shstrndx) == 0);
    size_t count = 0;
    REQUIRE(elf_getshdrnum(elf, &count) == 0);
    for (size_t i = 0; i < count; ++i) {
        Elf_Scn* scn = elf_getscn(elf, i);
        REQUIRE(scn != nullptr);
        ReadSection s;
        REQUIRE(gelf_getshdr(scn, &s.header) != nullptr);
        const char* name = elf_strptr(elf, shstrndx, s.header.sh_name);
        s.name = name ? name : "";
        if (s.header.sh_type == SHT_SYMTAB) {
            out.symtab_index = i;
            Elf_Data* data = elf_getdata(scn, nullptr);
            REQUIRE(data != nullptr);
            const size_t n = s.header.sh_size / s.header.sh_entsize;
            for (size_t k = 1; k < n; ++k) {
                ReadSymbol r;
                REQUIRE(gelf_getsym(data, static_cast<int>(k), &r.sym) != nullptr);
                const char* sname = elf_strptr(elf, s.header.sh_link, r.sym.st_name);
                REQUIRE(sname != nullptr);
                r.name = sname;
                r.index = k;
                out.symbols.push_back(r);
            }
        }
        out.sections.push_back(s);
    }
    elf_end(elf);
    ::close(fd);
    return out;
}

const ReadSymbol& find(const ReadElf& elf, const std::string& name) {
    for (const auto& s : elf.symbols) {
        if (s.name == name) {
            return s;
        }
    }
    FAIL("symbol " << name << " is missing");
    throw std::logic_error("unreachable");
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace

TEST_CASE("symbol ELF: header, NOBITS sections by region, and the tables") {
    krr::test::TempDir dir;
    const std::string path = dir / "kernel.sym";
    krr::write_symbol_elf(krr::SymbolTable::parse(small_map, "small map"), path);
    const ReadElf elf = read_elf(path);

    CHECK(elf.header.e_ident[EI_CLASS] == ELFCLASS64);
    CHECK(elf.header.e_ident[EI_DATA] == ELFDATA2LSB);
    CHECK(elf.header.e_machine == EM_X86_64);
    CHECK(elf.header.e_type == ET_EXEC);

    struct Expected {
        const char* name;
        uint64_t flags;
        uint64_t address;
        uint64_t size;
    };
    // last_text runs 16 MiB to the next symbol: capped at 1 MiB; so does
    // local_bss, which leaves _end a .bss section of its own.
    const Expected expected[] = {
        {".text", SHF_ALLOC | SHF_EXECINSTR, 0xffffffff81000000, 0x180 + 0x100000},
        {".rodata", SHF_ALLOC, 0xffffffff82000000, 0x800},
        {".data", SHF_ALLOC | SHF_WRITE, 0xffffffff82000800, 0x800},
        {".bss", SHF_ALLOC | SHF_WRITE, 0xffffffff82001000, 0x8 + 0x100000},
        {".bss", SHF_ALLOC | SHF_WRITE, 0xffffffff83000000, 0},
    };
    REQUIRE(elf.sections.size() == 1 + std::size(expected) + 3);
    for (size_t i = 0; i < std::size(expected); ++i) {
        const auto& s = elf.sections[i + 1];
        CAPTURE(i);
        CHECK(s.name == expected[i].name);
        CHECK(s.header.sh_type == SHT_NOBITS);
        CHECK(s.header.sh_flags == expected[i].flags);
        CHECK(s.header.sh_addr == expected[i].address);
        CHECK(s.header.sh_size == expected[i].size);
    }
    const auto& symtab = elf.sections[std::size(expected) + 1];
    const auto& strtab = elf.sections[std::size(expected) + 2];
    const auto& shstrtab = elf.sections[std::size(expected) + 3];
    CHECK(symtab.name == ".symtab");
    CHECK(symtab.header.sh_type == SHT_SYMTAB);
    CHECK(symtab.header.sh_entsize == sizeof(Elf64_Sym));
    CHECK(symtab.header.sh_link == std::size(expected) + 2);
    CHECK(strtab.name == ".strtab");
    CHECK(strtab.header.sh_type == SHT_STRTAB);
    CHECK(shstrtab.name == ".shstrtab");
    CHECK(elf.header.e_shstrndx == std::size(expected) + 3);
}

TEST_CASE("symbol ELF: symbol kinds, bindings, sizes and sections") {
    krr::test::TempDir dir;
    const std::string path = dir / "kernel.sym";
    krr::write_symbol_elf(krr::SymbolTable::parse(small_map, "small map"), path);
    const ReadElf elf = read_elf(path);

    struct Expected {
        const char* name;
        uint64_t value;
        uint64_t size;
        int type;
        int binding;
        size_t section; // SHN_ABS or a section index
    };
    const Expected expected[] = {
        // Per-CPU offsets are constants to gdb, not places; the marker
        // __per_cpu_start leaves the size to the object at its address.
        {"__per_cpu_start", 0, 0, STT_OBJECT, STB_GLOBAL, SHN_ABS},
        {"fixed_percpu_data", 0, 0x1000, STT_OBJECT, STB_GLOBAL, SHN_ABS},
        {"cpu_number", 0x1000, 0x100000, STT_OBJECT, STB_GLOBAL, SHN_ABS},
        {"_stext", 0xffffffff81000000, 0, STT_FUNC, STB_GLOBAL, 1},
        {"startup_64", 0xffffffff81000000, 0x40, STT_FUNC, STB_GLOBAL, 1},
        {"helper_local", 0xffffffff81000040, 0xc0, STT_FUNC, STB_LOCAL, 1},
        {"weak_fn", 0xffffffff81000100, 0x80, STT_FUNC, STB_WEAK, 1},
        {"last_text", 0xffffffff81000180, 0x100000, STT_FUNC, STB_GLOBAL, 1},
        // An R marker in the read-only region's first place.
        {"__start_rodata", 0xffffffff82000000, 0, STT_OBJECT, STB_GLOBAL, 2},
        {"some_table", 0xffffffff82000000, 0x800, STT_OBJECT, STB_LOCAL, 2},
        {"data_object", 0xffffffff82000800, 0x10, STT_OBJECT, STB_GLOBAL, 3},
        {"local_data", 0xffffffff82000810, 0x7f0, STT_OBJECT, STB_LOCAL, 3},
        {"bss_object", 0xffffffff82001000, 0x8, STT_OBJECT, STB_GLOBAL, 4},
        {"local_bss", 0xffffffff82001008, 0x100000, STT_OBJECT, STB_LOCAL, 4},
        {"_end", 0xffffffff83000000, 0, STT_OBJECT, STB_GLOBAL, 5},
    };
    CHECK(elf.symbols.size() == std::size(expected));
    for (const auto& e : expected) {
        CAPTURE(e.name);
        const ReadSymbol& s = find(elf, e.name);
        CHECK(s.sym.st_value == e.value);
        CHECK(s.sym.st_size == e.size);
        CHECK(GELF_ST_TYPE(s.sym.st_info) == e.type);
        CHECK(GELF_ST_BIND(s.sym.st_info) == e.binding);
        CHECK(s.sym.st_shndx == e.section);
    }

    // ELF's rule: locals first, and sh_info is the first non-local's index.
    const size_t first_global = elf.sections[elf.symtab_index].header.sh_info;
    CHECK(first_global == 5); // entry 0 and the four locals
    for (const auto& s : elf.symbols) {
        CAPTURE(s.name);
        CHECK((GELF_ST_BIND(s.sym.st_info) == STB_LOCAL) == (s.index < first_global));
    }
}

TEST_CASE("symbol ELF: a failed write throws and leaves no file behind") {
    krr::test::TempDir dir;
    const auto table = krr::SymbolTable::parse(small_map, "small map");
    CHECK_THROWS_AS(krr::write_symbol_elf(table, dir / "missing/kernel.sym"), krr::Error);
    CHECK(std::filesystem::is_empty(dir.path()));

    // An existing file is replaced whole, and no temporary stays beside it.
    write_text(dir / "kernel.sym", "old");
    krr::write_symbol_elf(table, dir / "kernel.sym");
    CHECK(read_text(dir / "kernel.sym").substr(0, 4) == "\x7f"
                                                        "ELF");
    size_t files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        ++files;
    }
    CHECK(files == 1);
}

TEST_CASE("symbol ELF cache: named by the map's content, generated once") {
    krr::test::TempDir dir;
    const std::string map_path = dir / "System.map";
    const std::string cache = dir / "cache/symbols";
    write_text(map_path, small_map);

    const std::string first = krr::symbol_elf_for(map_path, cache);
    CHECK(std::filesystem::path(first).parent_path() == std::filesystem::path(cache));
    CHECK(find(read_elf(first), "startup_64").sym.st_value == 0xffffffff81000000);

    // A second call finds the file and does not write it again.
    write_text(first, "left alone");
    CHECK(krr::symbol_elf_for(map_path, cache) == first);
    CHECK(read_text(first) == "left alone");

    // Another map's content, even at the same path, is another file.
    write_text(map_path, std::string(small_map) + "ffffffff83000010 B after_end\n");
    const std::string second = krr::symbol_elf_for(map_path, cache);
    CHECK(second != first);
    CHECK(find(read_elf(second), "after_end").sym.st_value == 0xffffffff83000010);
}

TEST_CASE("symbol ELF cache: a missing or malformed map is an error, and nothing is cached") {
    krr::test::TempDir dir;
    const std::string cache = dir / "cache";
    CHECK_THROWS_AS(krr::symbol_elf_for(dir / "no-such-map", cache), krr::Error);

    write_text(dir / "System.map", "ffffffff81000000 T ok\nnot-hex T broken\n");
    CHECK_THROWS_WITH_AS(krr::symbol_elf_for(dir / "System.map", cache),
                         doctest::Contains("line 2"), krr::Error);
    CHECK((!std::filesystem::exists(cache) || std::filesystem::is_empty(cache)));
}

TEST_CASE("symbol ELF: a map whose regions alternate past ELF's section limit is refused") {
    // Each line starts a new section; 70000 of them do not fit 16-bit indices.
    std::string map;
    char line[64];
    for (uint64_t i = 0; i < 70000; ++i) {
        std::snprintf(line, sizeof line, "%016llx %c s%llu\n",
                      static_cast<unsigned long long>(0xffffffff81000000 + 16 * i),
                      i % 2 ? 'd' : 't', static_cast<unsigned long long>(i));
        map += line;
    }
    krr::test::TempDir dir;
    CHECK_THROWS_WITH_AS(
        krr::write_symbol_elf(krr::SymbolTable::parse(map, "alternating"), dir / "kernel.sym"),
        doctest::Contains("not a kernel's map"), krr::Error);
    CHECK(std::filesystem::is_empty(dir.path()));
}
