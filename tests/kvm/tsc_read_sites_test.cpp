// The TSC-read finder against objdump (an independent disassembler) on the
// micro-guest and on the default kernel, and against hand-built memory for
// what objdump cannot show: immediates that look like RDTSC, unmapped and
// no-execute pages, decode errors, the _stext/_etext bounds, no side effects.
#include "guest-model/elf_image.h"
#include "guest-model/error.h"
#include "guest-model/kernel_image.h"
#include "recorder/accel/tsc_read_sites.h"
#include "recorder/guest-image/guest_locator.h"
#include "recorder/guest_run.h"
#include "tests/kvm/micro_guest_boot.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace krr;

namespace {

constexpr uint64_t kPresentWritable = 0x3;
constexpr uint64_t kLargePage = 1ULL << 7;
constexpr uint64_t kNoExecute = 1ULL << 63;

void put_entry(GuestMemory& memory, uint64_t table, unsigned index, uint64_t entry) {
    REQUIRE(memory.write(table + index * 8, {reinterpret_cast<const uint8_t*>(&entry), 8}));
}

void put_bytes(GuestMemory& memory, uint64_t physical, const std::vector<uint8_t>& bytes) {
    REQUIRE(memory.write(physical, bytes));
}

std::vector<uint8_t> snapshot(const GuestMemory& memory) {
    return std::vector<uint8_t>(memory.base(), memory.base() + memory.size());
}

// The addresses objdump disassembles as one of `mnemonics`, in [low, high).
std::set<uint64_t> objdump_addresses(const std::string& elf_path, const std::string& section,
                                     uint64_t low, uint64_t high,
                                     const std::set<std::string>& mnemonics) {
    const std::string command =
        std::string(KRR_OBJDUMP) + " -d --no-show-raw-insn -j " + section + " " + elf_path;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    REQUIRE(pipe);
    std::set<uint64_t> found;
    char line[4096];
    uint64_t lines = 0;
    while (std::fgets(line, sizeof line, pipe.get())) {
        ++lines;
        // "ffffffff81001234:\trdtsc" (the address right-aligned with spaces)
        char* colon = std::strchr(line, ':');
        char* tab = std::strchr(line, '\t');
        if (!colon || !tab || tab != colon + 1) {
            continue;
        }
        std::istringstream instruction(tab + 1);
        std::string mnemonic;
        instruction >> mnemonic;
        if (!mnemonics.count(mnemonic)) {
            continue;
        }
        uint64_t address = std::strtoull(line, nullptr, 16);
        if (address >= low && address < high) {
            found.insert(address);
        }
    }
    REQUIRE(lines > 10); // objdump ran and disassembled something
    return found;
}

// The addresses objdump disassembles as rdtsc or rdtscp, in [low, high).
std::set<uint64_t> objdump_tsc_reads(const std::string& elf_path, const std::string& section,
                                     uint64_t low, uint64_t high) {
    return objdump_addresses(elf_path, section, low, high, {"rdtsc", "rdtscp"});
}

std::set<uint64_t> addresses_of(const std::vector<TscReadSite>& sites) {
    std::set<uint64_t> out;
    for (const TscReadSite& site : sites) {
        out.insert(site.virtual_address);
    }
    return out;
}

// Where the test's own page tables put a virtual address (null: it
// does not know, and only the bytes in the site's first page are checked).
using PhysicalOf = std::function<uint64_t(uint64_t)>;

// Every site is an RDTSC or RDTSCP where the finder says, in order.
void check_site_bytes(const GuestMemory& memory, const TscReadScan& scan,
                      const PhysicalOf& physical_of = nullptr) {
    for (size_t i = 0; i < scan.sites.size(); ++i) {
        const TscReadSite& site = scan.sites[i];
        INFO("site ", std::hex, site.virtual_address);
        if (i > 0) {
            CHECK(scan.sites[i - 1].virtual_address < site.virtual_address);
        }
        CHECK((site.physical_address & 0xfff) == (site.virtual_address & 0xfff));
        if (physical_of) {
            CHECK(site.physical_address == physical_of(site.virtual_address));
        }
        const std::vector<uint8_t> expected =
            site.rdtscp ? std::vector<uint8_t>{0x0f, 0x01, 0xf9} : std::vector<uint8_t>{0x0f, 0x31};
        REQUIRE(site.length == expected.size());
        for (uint64_t k = 0; k < site.length; ++k) {
            uint64_t physical = site.physical_address + k;
            if ((site.virtual_address + k) / kPageSize != site.virtual_address / kPageSize) {
                if (!physical_of) {
                    break;
                }
                physical = physical_of(site.virtual_address + k);
            }
            uint8_t byte = 0;
            REQUIRE(memory.read(physical, {&byte, 1}));
            CHECK(byte == expected[k]);
        }
    }
}

// Synthetic guest: text at a kernel-like address, 4 KiB pages.
//   page 0 -> physical 0x10000, page 1 -> 0x20000 (not contiguous),
//   page 2 not present, page 3 -> 0x13000 but no-execute.
constexpr uint64_t kText = 0xffffffff81000000;
constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000;
constexpr uint64_t kPage0 = 0x10000, kPage1 = 0x20000, kPage3 = 0x13000;

struct SyntheticGuest {
    GuestMemory memory{1 << 20};

    SyntheticGuest() {
        put_entry(memory, kPml4, (kText >> 39) & 0x1ff, kPdpt | kPresentWritable);
        put_entry(memory, kPdpt, (kText >> 30) & 0x1ff, kPd | kPresentWritable);
        put_entry(memory, kPd, (kText >> 21) & 0x1ff, kPt | kPresentWritable);
        put_entry(memory, kPt, 0, kPage0 | kPresentWritable);
        put_entry(memory, kPt, 1, kPage1 | kPresentWritable);
        put_entry(memory, kPt, 3, kPage3 | kPresentWritable | kNoExecute);
        for (uint64_t page : {kPage0, kPage1, kPage3}) {
            put_bytes(memory, page, std::vector<uint8_t>(kPageSize, 0xcc)); // int3 padding
        }
        // f_immediate: mov eax, 0x310f; ret (the 0f 31 is an immediate)
        put_bytes(memory, kPage0 + 0x000, {0xb8, 0x0f, 0x31, 0x00, 0x00, 0xc3});
        // f_real: nop; rdtsc; rdtscp; ret
        put_bytes(memory, kPage0 + 0x010, {0x90, 0x0f, 0x31, 0x0f, 0x01, 0xf9, 0xc3});
        // f_crossing: 15 nops, then an rdtsc split over pages 0 and 1
        put_bytes(memory, kPage0 + 0xff0, std::vector<uint8_t>(15, 0x90));
        put_bytes(memory, kPage0 + 0xfff, {0x0f});
        put_bytes(memory, kPage1 + 0x000, {0x31, 0xc3});
        // f_garbage: rdtsc, then 06 (push es: invalid in 64-bit mode), then
        // an rdtsc the scan never reaches
        put_bytes(memory, kPage1 + 0x100, {0x0f, 0x31, 0x06, 0x0f, 0x31, 0xc3});
        // f_late (past _etext when the map has it): rdtsc; ret
        put_bytes(memory, kPage1 + 0x800, {0x0f, 0x31, 0xc3});
        // some_data: a data symbol whose bytes read as rdtsc
        put_bytes(memory, kPage1 + 0x900, {0x0f, 0x31, 0x0f, 0x31});
        // f_no_execute: rdtsc on a no-execute page
        put_bytes(memory, kPage3 + 0x000, {0x0f, 0x31, 0xc3});
    }
};

uint64_t synthetic_physical(uint64_t virtual_address) {
    const uint64_t offset = virtual_address - kText;
    const uint64_t frames[] = {kPage0, kPage1, 0, kPage3};
    REQUIRE(offset < 4 * kPageSize);
    return frames[offset / kPageSize] + offset % kPageSize;
}

std::string synthetic_map(bool with_text_bounds) {
    std::string map;
    if (with_text_bounds) {
        map += "ffffffff81000000 T _stext\n";
    }
    map += "ffffffff81000000 T f_immediate\n"
           "ffffffff81000010 t f_real\n"
           "ffffffff81000ff0 T f_crossing\n"
           "ffffffff81001100 W f_garbage\n";
    if (with_text_bounds) {
        map += "ffffffff81001800 T _etext\n";
    }
    map += "ffffffff81001800 t f_late\n"
           "ffffffff81001900 D some_data\n"
           "ffffffff81002000 T f_unmapped\n"
           "ffffffff81003000 T f_no_execute\n";
    return map;
}

} // namespace

TEST_CASE("TSC reads: the micro-guest's, as objdump finds them") {
    GuestMemory memory(64ULL << 20);
    std::vector<uint8_t> image = test::read_binary(KRR_MICRO_GUEST_BIN);
    REQUIRE(image.size() > 0);
    CpuState cpu = load_flat_image(memory, image, kFlatImageAddress);
    SymbolTable symbols = SymbolTable::load(KRR_MICRO_GUEST_MAP);
    REQUIRE(symbols.address_of("_start") == kFlatImageAddress);

    const std::vector<uint8_t> before = snapshot(memory);
    TscReadScan scan = find_tsc_read_sites(memory, cpu.cr3, symbols);
    CHECK(snapshot(memory) == before); // no accessed bits, nothing written

    std::set<uint64_t> expected = objdump_tsc_reads(KRR_MICRO_GUEST_ELF, ".text", 0, ~0ULL);
    REQUIRE(!expected.empty()); // micro_guest.c reads the TSC
    CHECK(addresses_of(scan.sites) == expected);
    CHECK(scan.sites.size() == expected.size());
    check_site_bytes(memory, scan, [](uint64_t v) { return v; }); // identity mapped
    CHECK(scan.symbols_unmapped == 0);
    CHECK(scan.scans_cut_by_unmapped_page == 0);
    CHECK(scan.instructions_decoded > 100);
    MESSAGE("micro-guest: ", scan.sites.size(), " TSC reads in ", scan.symbols_scanned,
            " symbols, ", scan.instructions_decoded, " instructions, ", scan.decode_errors,
            " decode errors");
}

TEST_CASE("TSC reads: decoded, not matched as bytes; bounded by _stext/_etext") {
    SyntheticGuest guest;

    SUBCASE("with _stext and _etext: only the text between them") {
        SymbolTable symbols = SymbolTable::parse(synthetic_map(true), "synthetic");
        const std::vector<uint8_t> before = snapshot(guest.memory);
        TscReadScan scan = find_tsc_read_sites(guest.memory, kPml4, symbols);
        CHECK(snapshot(guest.memory) == before); // no accessed bits, nothing written
        CHECK(addresses_of(scan.sites) ==
              std::set<uint64_t>{kText + 0x11, kText + 0x13, kText + 0xfff, kText + 0x1100});
        REQUIRE(scan.sites.size() == 4);
        CHECK(scan.sites[0].physical_address == kPage0 + 0x11);
        CHECK(scan.sites[0].length == 2);
        CHECK_FALSE(scan.sites[0].rdtscp);
        CHECK(scan.sites[1].physical_address == kPage0 + 0x13);
        CHECK(scan.sites[1].length == 3);
        CHECK(scan.sites[1].rdtscp);
        CHECK(scan.sites[2].physical_address == kPage0 + 0xfff); // its 31 is at kPage1
        CHECK(scan.sites[2].length == 2);
        CHECK(scan.sites[3].physical_address == kPage1 + 0x100);
        CHECK(scan.symbols_scanned == 4); // _stext and f_immediate share an address
        CHECK(scan.symbols_unmapped == 0);
        CHECK(scan.decode_errors == 1); // f_garbage's 06
        check_site_bytes(guest.memory, scan, synthetic_physical);
    }
    SUBCASE("without them: every text symbol, data symbols never") {
        SymbolTable symbols = SymbolTable::parse(synthetic_map(false), "synthetic");
        const std::vector<uint8_t> before = snapshot(guest.memory);
        TscReadScan scan = find_tsc_read_sites(guest.memory, kPml4, symbols);
        CHECK(snapshot(guest.memory) == before); // no accessed bits, nothing written
        CHECK(addresses_of(scan.sites) == std::set<uint64_t>{kText + 0x11, kText + 0x13,
                                                             kText + 0xfff, kText + 0x1100,
                                                             kText + 0x1800});
        CHECK(scan.symbols_scanned == 7);
        CHECK(scan.symbols_unmapped == 2); // f_unmapped, f_no_execute
        CHECK(scan.decode_errors == 1);
        check_site_bytes(guest.memory, scan, synthetic_physical);
    }
    SUBCASE("a range that runs into an unmapped page is cut there, counted") {
        // f_long covers page 1's end: its nops run on into page 2.
        put_bytes(guest.memory, kPage1 + 0xf00, std::vector<uint8_t>(0x100, 0x90));
        SymbolTable symbols = SymbolTable::parse("ffffffff81001f00 T f_long\n"
                                                 "ffffffff81002100 T f_after\n",
                                                 "synthetic");
        const std::vector<uint8_t> before = snapshot(guest.memory);
        TscReadScan scan = find_tsc_read_sites(guest.memory, kPml4, symbols);
        CHECK(snapshot(guest.memory) == before); // no accessed bits, nothing written
        CHECK(scan.sites.empty());
        CHECK(scan.scans_cut_by_unmapped_page == 1);
        CHECK(scan.symbols_unmapped == 1);
        CHECK(scan.instructions_decoded == 0x100);
    }
}

TEST_CASE("TSC reads: odd page tables and garbage are counted, never thrown") {
    SyntheticGuest guest;
    SymbolTable symbols = SymbolTable::parse(synthetic_map(false), "synthetic");

    // A page table outside RAM: the only error.
    CHECK_THROWS_AS(find_tsc_read_sites(guest.memory, 0x7f00000000, symbols), krr::Error);
    CHECK_THROWS_AS(find_tsc_read_sites(guest.memory, guest.memory.size(), symbols), krr::Error);

    // A top-level table of all ones (reserved bits everywhere): nothing mapped.
    put_bytes(guest.memory, 0x8000, std::vector<uint8_t>(kPageSize, 0xff));
    TscReadScan ones = find_tsc_read_sites(guest.memory, 0x8000, symbols);
    CHECK(ones.sites.empty());
    CHECK(ones.symbols_unmapped == ones.symbols_scanned);

    // Random bytes in the text pages and random entries pointing anywhere,
    // even outside RAM: whatever is reported really is an RDTSC/RDTSCP.
    std::mt19937_64 random(7);
    for (int round = 0; round < 50; ++round) {
        std::vector<uint8_t> noise(kPageSize);
        for (uint8_t& b : noise) {
            b = static_cast<uint8_t>(random() % 4 == 0 ? 0x0f : random());
        }
        put_bytes(guest.memory, kPage0, noise);
        put_bytes(guest.memory, kPage1, noise);
        put_entry(guest.memory, kPt, 2, (random() & ~0xfffULL) | kPresentWritable);
        put_entry(guest.memory, kPt, 4 + round % 8, random());
        std::string map = synthetic_map(round % 2 == 0);
        for (int i = 0; i < 8; ++i) {
            char line[64];
            std::snprintf(line, sizeof line, "%llx t r%d\n",
                          static_cast<unsigned long long>(kText + random() % 0x5000), i);
            map += line;
        }
        SymbolTable random_symbols = SymbolTable::parse(map, "random");
        TscReadScan scan;
        REQUIRE_NOTHROW(scan = find_tsc_read_sites(guest.memory, kPml4, random_symbols));
        check_site_bytes(guest.memory, scan); // the random mappings are not known here
    }
}

// Registered as its own Meson test (tsc-read-sites-provisioned): it needs
// the kernel ./scripts/setup provisions, and fails (with the locator's
// "run ./scripts/setup" message) when it is missing. The kernel's text is
// loaded as the boot loader loads it (physical 16 MiB) and mapped as Linux
// maps it (__START_KERNEL_map = 0xffffffff80000000 -> physical 0, 2 MiB
// pages). This is the file's text, before alternatives are applied: the
// running kernel's differs, but the finder and objdump must agree on both.
TEST_CASE("provisioned kernel: the TSC reads in its text, as objdump finds them") {
    const std::string kernel = locate_kernel(std::nullopt);
    const std::string map = kernel.substr(0, kernel.rfind('/')) + "/System.map";
    SymbolTable symbols = SymbolTable::load(map);
    const std::vector<uint8_t> elf = KernelImage::load(kernel).decompress_vmlinux();
    ElfImage image = parse_elf_image(elf, "vmlinux");

    GuestMemory memory(128ULL << 20);
    for (const ElfSegment& segment : image.segments) {
        REQUIRE(memory.contains(segment.physical_address, segment.memory_size));
        REQUIRE(memory.write(segment.physical_address,
                             {elf.data() + segment.file_offset, segment.file_size}));
    }
    constexpr uint64_t kStartKernelMap = 0xffffffff80000000;
    put_entry(memory, kPml4, (kStartKernelMap >> 39) & 0x1ff, kPdpt | kPresentWritable);
    put_entry(memory, kPdpt, (kStartKernelMap >> 30) & 0x1ff, kPd | kPresentWritable);
    for (unsigned i = 0; i < 512; ++i) {
        put_entry(memory, kPd, i, (uint64_t(i) << 21) | kPresentWritable | kLargePage);
    }

    TscReadScan scan = find_tsc_read_sites(memory, kPml4, symbols);

    // objdump reads the same bytes from a file.
    char path[] = "/tmp/krr-tsc-vmlinux-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, elf.data(), elf.size()) == static_cast<ssize_t>(elf.size()));
    close(fd);
    const uint64_t stext = symbols.address_of("_stext").value();
    const uint64_t etext = symbols.address_of("_etext").value();
    std::set<uint64_t> expected = objdump_tsc_reads(path, ".text", stext, etext);
    std::set<uint64_t> fxsaves =
        objdump_addresses(path, ".text", stext, etext, {"fxsave", "fxsave64"});
    unlink(path);

    REQUIRE(!expected.empty());
    CHECK(addresses_of(scan.sites) == expected);
    check_site_bytes(memory, scan, [&](uint64_t v) { return v - kStartKernelMap; });
    // The FXSAVEs (signal frames, context switches) are found the same way.
    REQUIRE(!fxsaves.empty());
    CHECK(addresses_of(scan.fxsave_sites) == fxsaves);
    for (const TscReadSite& site : scan.fxsave_sites) {
        uint8_t bytes[4] = {};
        REQUIRE(memory.read(site.virtual_address - kStartKernelMap, {bytes, 4}));
        const unsigned rex = (bytes[0] & 0xf0) == 0x40 ? 1 : 0; // fxsave64 has REX.W
        CHECK(bytes[rex] == 0x0f);
        CHECK(bytes[rex + 1] == 0xae);
        CHECK(((bytes[rex + 2] >> 3) & 7) == 0); // /0
        CHECK(site.length >= 3 + rex);
    }
    CHECK(scan.symbols_unmapped == 0);
    uint64_t rdtscp = 0;
    for (const TscReadSite& site : scan.sites) {
        rdtscp += site.rdtscp;
    }
    MESSAGE("default kernel text [_stext, _etext): ", scan.sites.size(), " TSC reads (", rdtscp,
            " rdtscp) and ", scan.fxsave_sites.size(), " FXSAVEs in ", scan.symbols_scanned,
            " symbols, ", scan.instructions_decoded, " instructions, ", scan.decode_errors,
            " decode errors; objdump: ", expected.size());
}
