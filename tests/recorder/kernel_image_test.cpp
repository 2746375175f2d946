#include "guest-model/error.h"
#include "guest-model/kernel_image.h"
#include "guest-model/symbols.h"
#include "recorder/guest-image/guest_locator.h"

#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fstream>
#include <lzma.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

using krr::KernelImage;
using krr::PayloadCompression;

namespace {

// Built here from Documentation/x86/boot.rst, field by field.
struct FakeBzImage {
    std::vector<uint8_t> bytes;
    void put(size_t offset, uint64_t value, int width) {
        for (int i = 0; i < width; ++i) {
            bytes[offset + size_t(i)] = uint8_t(value >> (8 * i));
        }
    }
};

const size_t setup_sects = 3;
const size_t setup_size = (setup_sects + 1) * 512;
const size_t payload_offset = 0x40;

FakeBzImage make_bzimage(const std::vector<uint8_t>& payload, uint16_t version = 0x020f) {
    FakeBzImage k;
    const size_t code_size = (payload_offset + payload.size() + 64 + 15) & ~size_t(15);
    k.bytes.assign(setup_size + code_size, 0);
    k.put(0x1f1, setup_sects, 1);
    k.put(0x1f4, code_size / 16, 4); // syssize
    k.put(0x1fe, 0xaa55, 2);
    k.put(0x200, 0xeb, 1);
    k.put(0x201, 0x268 - 0x202, 1); // header ends at 0x268
    std::memcpy(&k.bytes[0x202], "HdrS", 4);
    k.put(0x206, version, 2);
    k.put(0x20e, 0x300 - 0x200, 2); // kernel_version string at 0x300
    const char* version_text = "6.1.0-test (krr@test) #1 SMP";
    std::memcpy(&k.bytes[0x300], version_text, std::strlen(version_text) + 1);
    k.put(0x211, 0x81, 1); // LOADED_HIGH | CAN_USE_HEAP
    k.put(0x22c, 0x7fffffff, 4);
    k.put(0x230, 0x200000, 4);
    k.put(0x234, 1, 1);    // relocatable
    k.put(0x236, 0x7f, 2); // xloadflags
    k.put(0x238, 2047, 4); // cmdline_size
    k.put(0x248, payload_offset, 4);
    k.put(0x24c, payload.size(), 4);
    k.put(0x258, 0x1000000, 8);
    k.put(0x260, 0x3000000, 4);
    std::memcpy(&k.bytes[setup_size + payload_offset], payload.data(), payload.size());
    return k;
}

std::vector<uint8_t> fake_vmlinux() {
    std::vector<uint8_t> elf = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
    for (int i = 0; i < 100000; ++i) {
        elf.push_back(uint8_t((i * 7919) >> 5));
    }
    return elf;
}

std::vector<uint8_t> xz(const std::vector<uint8_t>& in) {
    std::vector<uint8_t> out(in.size() + 65536);
    size_t used = 0;
    REQUIRE(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, in.data(), in.size(), out.data(),
                                    &used, out.size()) == LZMA_OK);
    out.resize(used);
    return out;
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& in) {
    z_stream s{};
    REQUIRE(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::vector<uint8_t> out(deflateBound(&s, uLong(in.size())));
    s.next_in = const_cast<Bytef*>(in.data());
    s.avail_in = uInt(in.size());
    s.next_out = out.data();
    s.avail_out = uInt(out.size());
    REQUIRE(deflate(&s, Z_FINISH) == Z_STREAM_END);
    out.resize(s.total_out);
    deflateEnd(&s);
    return out;
}

std::vector<uint8_t> zstd(const std::vector<uint8_t>& in) {
    std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
    size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
    REQUIRE_FALSE(ZSTD_isError(n));
    out.resize(n);
    return out;
}

// The kernel build appends the uncompressed size after the payload.
std::vector<uint8_t> with_size(std::vector<uint8_t> payload, size_t size) {
    for (int i = 0; i < 4; ++i) {
        payload.push_back(uint8_t(size >> (8 * i)));
    }
    return payload;
}

} // namespace

TEST_CASE("kernel image: the setup header fields are read from their documented offsets") {
    auto k = KernelImage::parse(make_bzimage(with_size(xz(fake_vmlinux()), 100008)).bytes, "t");
    CHECK(k.setup_sects() == 3);
    CHECK(k.protocol_version() == 0x020f);
    CHECK(k.protocol_version_text() == "2.15");
    CHECK(k.kernel_version() == "6.1.0-test (krr@test) #1 SMP");
    CHECK(k.loadflags() == 0x81);
    CHECK(k.xloadflags() == 0x7f);
    CHECK(k.pref_address() == 0x1000000);
    CHECK(k.init_size() == 0x3000000);
    CHECK(k.kernel_alignment() == 0x200000);
    CHECK(k.cmdline_size() == 2047);
    CHECK(k.initrd_addr_max() == 0x7fffffff);
    CHECK(k.payload_offset() == payload_offset);
    CHECK(k.protected_mode_code().size() == k.bytes().size() - setup_size);
    CHECK(k.payload().data() == k.bytes().data() + setup_size + payload_offset);
    auto header = k.setup_header_bytes();
    CHECK(header.size() == 0x268 - 0x1f1);
    CHECK(header[0] == 3); // setup_sects is the first byte
    CHECK(std::memcmp(&header[0x202 - 0x1f1], "HdrS", 4) == 0);
}

TEST_CASE("kernel image: xz, gzip and zstd payloads decompress to the vmlinux ELF") {
    const auto elf = fake_vmlinux();
    struct Case {
        const char* name;
        std::vector<uint8_t> payload;
        PayloadCompression compression;
    };
    const Case cases[] = {
        {"xz", with_size(xz(elf), elf.size()), PayloadCompression::xz},
        {"gzip", with_size(gzip(elf), elf.size()), PayloadCompression::gzip},
        {"zstd", zstd(elf), PayloadCompression::zstd},
        // A size hint far too small must only cost reallocations.
        {"xz, small hint", with_size(xz(elf), 16), PayloadCompression::xz},
        {"uncompressed", elf, PayloadCompression::none},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        auto k = KernelImage::parse(make_bzimage(c.payload).bytes, c.name);
        CHECK(k.payload_compression() == c.compression);
        CHECK(k.decompress_vmlinux() == elf);
    }
}

TEST_CASE("kernel image: junk, truncation and bad payloads give clear errors") {
    const auto elf = fake_vmlinux();
    const auto good = make_bzimage(with_size(xz(elf), elf.size()));

    std::string text = "this is a text file, not a kernel\n";
    text.resize(4096, '#');
    CHECK_THROWS_WITH_AS(KernelImage::parse({text.begin(), text.end()}, "notes.txt"),
                         doctest::Contains("not a Linux bzImage"), krr::Error);
    CHECK_THROWS_WITH_AS(KernelImage::parse({1, 2, 3}, "tiny"), doctest::Contains("too short"),
                         krr::Error);

    auto cut = good.bytes;
    cut.resize(setup_size + 100);
    CHECK_THROWS_WITH_AS(KernelImage::parse(cut, "cut"), doctest::Contains("truncated"),
                         krr::Error);
    cut.resize(setup_size - 10);
    CHECK_THROWS_WITH_AS(KernelImage::parse(cut, "cut"), doctest::Contains("truncated"),
                         krr::Error);

    auto old = make_bzimage(xz(elf), 0x020b);
    CHECK_THROWS_WITH_AS(KernelImage::parse(old.bytes, "old"), doctest::Contains("2.11"),
                         krr::Error);

    auto no64 = good;
    no64.put(0x236, 0, 2);
    CHECK_THROWS_WITH_AS(KernelImage::parse(no64.bytes, "k"), doctest::Contains("64-bit"),
                         krr::Error);
    auto fixed = good;
    fixed.put(0x234, 0, 1);
    CHECK_THROWS_WITH_AS(KernelImage::parse(fixed.bytes, "k"), doctest::Contains("relocatable"),
                         krr::Error);
    auto outside = good;
    outside.put(0x24c, 0x7fffffff, 4);
    CHECK_THROWS_WITH_AS(KernelImage::parse(outside.bytes, "k"), doctest::Contains("payload"),
                         krr::Error);

    // Corrupt compressed data: flip bytes in the middle of the xz stream.
    auto corrupt = good;
    for (size_t i = 200; i < 260; ++i) {
        corrupt.bytes[setup_size + payload_offset + i] ^= 0x5a;
    }
    auto corrupt_kernel = KernelImage::parse(corrupt.bytes, "corrupt");
    CHECK_THROWS_WITH_AS(corrupt_kernel.decompress_vmlinux(), doctest::Contains("xz"), krr::Error);

    // A payload cut short inside the stream.
    auto short_payload = good;
    short_payload.put(0x24c, 300, 4);
    auto short_kernel = KernelImage::parse(short_payload.bytes, "short");
    CHECK_THROWS_WITH_AS(short_kernel.decompress_vmlinux(), doctest::Contains("truncated"),
                         krr::Error);

    auto unknown = make_bzimage(std::vector<uint8_t>(64, 0x42));
    auto unknown_kernel = KernelImage::parse(unknown.bytes, "unknown");
    CHECK(unknown_kernel.payload_compression() == PayloadCompression::unknown);
    CHECK_THROWS_WITH_AS(unknown_kernel.decompress_vmlinux(), doctest::Contains("unrecognised"),
                         krr::Error);

    // Compressed fine, but what comes out is not an ELF file.
    std::vector<uint8_t> not_elf(5000, 'z');
    auto wrong = KernelImage::parse(make_bzimage(gzip(not_elf)).bytes, "wrong");
    CHECK_THROWS_WITH_AS(wrong.decompress_vmlinux(), doctest::Contains("not an ELF"), krr::Error);
}

TEST_CASE("kernel image: load() reports unreadable paths") {
    CHECK_THROWS_WITH_AS(KernelImage::load("/nonexistent/vmlinuz"),
                         doctest::Contains("kernel: /nonexistent/vmlinuz: No such file"),
                         krr::Error);
    CHECK_THROWS_WITH_AS(KernelImage::load("/"), doctest::Contains("not a regular file"),
                         krr::Error);
}

// Registered as its own Meson test (kernel-image-provisioned) so the unit
// tests stay hermetic; there it must find the kernel set-up provisioned, and
// fails with the locator's "run ./scripts/setup" message when it is missing.
TEST_CASE("provisioned kernel: the Debian bzImage parses and decompresses") {
    auto k = KernelImage::load(krr::locate_kernel(std::nullopt));
    CHECK(k.protocol_version() >= 0x020f);
    CHECK(k.kernel_version().rfind("6.1.", 0) == 0);
    CHECK(k.payload_compression() == PayloadCompression::xz);
    auto elf = k.decompress_vmlinux();
    CHECK(elf.size() > 10u * 1024 * 1024);
    CHECK(elf.size() < k.init_size());
    CHECK(elf[4] == 2); // ELFCLASS64
}

TEST_CASE("provisioned kernel: its System.map parses and resolves kernel functions") {
    const std::string kernel = krr::locate_kernel(std::nullopt);
    const std::string map = kernel.substr(0, kernel.rfind('/')) + "/System.map";
    auto table = krr::SymbolTable::load(map);
    CHECK(table.size() > 50000);
    auto start_kernel = table.address_of("start_kernel");
    REQUIRE(start_kernel);
    // nokaslr: the kernel runs where System.map says, in the top 2 GiB.
    CHECK(*start_kernel >= 0xffffffff81000000);
    auto m = table.lookup(*start_kernel + 5);
    REQUIRE(m);
    CHECK(m->symbol->name == "start_kernel");
    CHECK(m->offset == 5);
    CHECK(table.address_of("_text") == 0xffffffff81000000);
}

TEST_CASE("kernel image: mutated headers and payloads never crash the reader") {
    std::vector<uint8_t> small_elf = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
    small_elf.resize(4096, 0x90);
    const auto pristine = make_bzimage(with_size(xz(small_elf), small_elf.size())).bytes;
    uint32_t seed = 12345;
    auto next = [&seed] {
        seed = seed * 1103515245 + 12345;
        return seed >> 8;
    };
    int parsed = 0;
    int rejected = 0;
    for (int round = 0; round < 3000; ++round) {
        auto bytes = pristine;
        const int flips = 1 + int(next() % 4);
        for (int i = 0; i < flips; ++i) {
            // Mostly the setup header, sometimes the payload.
            size_t at = next() % 2 ? 0x1f0 + next() % 0x80
                                   : setup_size + next() % (bytes.size() - setup_size);
            bytes[at] = uint8_t(next());
        }
        if (next() % 8 == 0) {
            bytes.resize(next() % bytes.size());
        }
        try {
            auto k = KernelImage::parse(bytes, "mutant");
            ++parsed;
            (void)k.decompress_vmlinux();
        } catch (const krr::Error&) {
            ++rejected;
        }
    }
    // Both outcomes happen, so the mutations reach past the first check.
    CHECK(parsed > 100);
    CHECK(rejected > 100);
}

namespace {

// A minimal ELF64 file: header, one program header, and a note segment with
// the given notes (each: name, type, descriptor).
struct Note {
    std::string name;
    uint32_t type;
    std::vector<uint8_t> desc;
};

std::vector<uint8_t> elf_with_notes(const std::vector<Note>& notes) {
    std::vector<uint8_t> segment;
    auto put32 = [&segment](uint32_t v) {
        for (int i = 0; i < 4; ++i) {
            segment.push_back(uint8_t(v >> (8 * i)));
        }
    };
    for (const auto& n : notes) {
        put32(uint32_t(n.name.size() + 1));
        put32(uint32_t(n.desc.size()));
        put32(n.type);
        segment.insert(segment.end(), n.name.begin(), n.name.end());
        segment.push_back(0);
        segment.resize((segment.size() + 3) & ~size_t(3), 0);
        segment.insert(segment.end(), n.desc.begin(), n.desc.end());
        segment.resize((segment.size() + 3) & ~size_t(3), 0);
    }
    FakeBzImage f; // reused for its little-endian put()
    f.bytes.assign(0x40 + 0x38, 0);
    std::memcpy(f.bytes.data(),
                "\x7f"
                "ELF\x02\x01\x01",
                7);
    f.put(0x20, 0x40, 8); // e_phoff
    f.put(0x36, 0x38, 2); // e_phentsize
    f.put(0x38, 1, 2);    // e_phnum
    f.put(0x40, 4, 4);    // p_type = PT_NOTE
    f.put(0x40 + 0x08, f.bytes.size(), 8);
    f.put(0x40 + 0x20, segment.size(), 8);
    f.bytes.insert(f.bytes.end(), segment.begin(), segment.end());
    return f.bytes;
}

} // namespace

TEST_CASE("ELF build ID: found among other notes, absent, or malformed") {
    const std::vector<uint8_t> id = {0xeb, 0x4f, 0xbc, 0xd0, 0x37, 0x00, 0x25, 0x17};
    auto elf = elf_with_notes({{"Xen", 3, {1, 2, 3, 4, 5, 6, 7, 8}},
                               {"GNU", 1, {0, 0, 0, 0}}, // ABI tag, not the build ID
                               {"GNU", 3, id}});
    CHECK(krr::elf_gnu_build_id(elf) == "eb4fbcd037002517");

    CHECK_FALSE(krr::elf_gnu_build_id(elf_with_notes({{"Xen", 3, {1, 2}}})));
    CHECK_FALSE(krr::elf_gnu_build_id(elf_with_notes({})));

    auto overrun = elf;
    overrun[0x40 + 0x38 + 4] = 0xff; // first note's descsz
    CHECK_THROWS_WITH_AS(krr::elf_gnu_build_id(overrun), doctest::Contains("overruns"), krr::Error);
    auto outside = elf;
    outside[0x40 + 0x20 + 3] = 0x10; // p_filesz
    CHECK_THROWS_WITH_AS(krr::elf_gnu_build_id(outside), doctest::Contains("outside"), krr::Error);
    auto cut = elf;
    cut.resize(0x50);
    CHECK_THROWS_WITH_AS(krr::elf_gnu_build_id(cut), doctest::Contains("truncated"), krr::Error);
    std::vector<uint8_t> text(200, 'x');
    CHECK_THROWS_WITH_AS(krr::elf_gnu_build_id(text), doctest::Contains("not a 64-bit"),
                         krr::Error);
}

TEST_CASE("provisioned kernel: the bzImage and the cache's debug vmlinux share a build ID") {
    const std::string kernel = krr::locate_kernel(std::nullopt);
    auto booted = krr::elf_gnu_build_id(KernelImage::load(kernel).decompress_vmlinux());
    REQUIRE(booted);
    CHECK(booted->size() == 40);

    // The debug vmlinux is hundreds of megabytes: map it, only the notes are read.
    const std::string debug = kernel.substr(0, kernel.rfind('/')) + "/vmlinux";
    int fd = ::open(debug.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    void* map = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    REQUIRE(map != MAP_FAILED);
    auto debug_id = krr::elf_gnu_build_id({static_cast<const uint8_t*>(map), size_t(st.st_size)});
    ::munmap(map, size_t(st.st_size));
    CHECK(debug_id == booted);
}
