#include "gdbserver/x86_64_target.h"
#include "guest-model/error.h"
#include "tests/gdbserver/gdb_batch.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <doctest/doctest.h>
#include <map>
#include <sstream>
#include <unistd.h>

using namespace krr;
using namespace krr::gdb;

namespace {

uint64_t le_at(const std::vector<uint8_t>& image, size_t offset, size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) {
        v |= static_cast<uint64_t>(image.at(offset + i)) << (8 * i);
    }
    return v;
}

// A state in which every register gdb can see holds a distinct value.
CpuState busy_state() {
    CpuState c;
    for (int i = 0; i < kGprCount; ++i) {
        c.gpr[i] = 0x1111111111111111ULL * static_cast<uint64_t>(i + 1) + 0x0102030405060708ULL;
    }
    c.rip = 0xffffffff81234567ULL;
    c.rflags = 0x246;
    for (int s = 0; s < kSegmentCount; ++s) {
        c.seg[s].selector = static_cast<uint16_t>(0x10 + 8 * s);
        c.seg[s].base = 0x1000u * static_cast<unsigned>(s);
        c.seg[s].limit = 0xffffffff;
        c.seg[s].type = 3;
    }
    c.seg[FS].base = 0x7f0000001000ULL;
    c.seg[GS].base = 0xffff888007a00000ULL;
    c.cr0 = 0x80050033;
    c.cr2 = 0x7ffd12345678ULL;
    c.cr3 = 0x1234000;
    c.cr4 = 0x6f0;
    c.cr8 = 0xf;
    c.msr.efer = 0xd01;
    c.msr.kernel_gs_base = 0x7f0000002000ULL;
    c.msr.lstar = 0xffffffff81a00000ULL;
    c.fpu.fcw = 0x37f;
    c.fpu.fsw = 0x3800; // TOP = 7
    c.fpu.ftw = 0x81;
    c.fpu.fop = 0x7ab;
    c.fpu.fip = 0x1122334455667788ULL;
    c.fpu.fdp = 0x99aabbccddeeff00ULL;
    c.fpu.mxcsr = 0x1fa0;
    for (int i = 0; i < 8; ++i) {
        for (int b = 0; b < 10; ++b) {
            c.fpu.st[i][b] = static_cast<uint8_t>(0x40 + 10 * i + b);
        }
    }
    for (int i = 0; i < 16; ++i) {
        for (int b = 0; b < 16; ++b) {
            c.fpu.xmm[i][b] = static_cast<uint8_t>(16 * i + b);
        }
    }
    return c;
}

// Overwrites every gdb-visible field by hand, leaving the rest alone.
void scramble_visible(CpuState& c) {
    c.gpr.fill(0xdead);
    c.rip = 1;
    c.rflags = (c.rflags & ~0xffffffffULL) | 0x2;
    for (auto& s : c.seg) {
        s.selector = 0xffff;
    }
    c.seg[FS].base = c.seg[GS].base = 5;
    c.cr0 = c.cr2 = c.cr3 = c.cr4 = c.cr8 = 6;
    c.msr.efer = c.msr.kernel_gs_base = 7;
    c.fpu.fcw = c.fpu.fsw = c.fpu.fop = 0;
    c.fpu.ftw = 0x5a;
    c.fpu.fip = c.fpu.fdp = 0;
    c.fpu.mxcsr = 0;
    for (auto& r : c.fpu.st) {
        std::fill(r.begin(), r.begin() + 10, 0xee);
    }
    for (auto& r : c.fpu.xmm) {
        r.fill(0xcc);
    }
}

const TargetRegister& named(std::string_view name) {
    for (const TargetRegister& r : target_registers()) {
        if (r.name == name) {
            return r;
        }
    }
    FAIL("no register " << name);
    throw 0;
}

} // namespace

TEST_CASE("the g image has gdb's amd64 layout") {
    // Offsets of gdb's i386 core and sse features (16 GPRs, rip, 4-byte
    // eflags and selectors, 10-byte st, 4-byte x87 control, 16-byte xmm).
    CHECK(named("rax").offset == 0);
    CHECK(named("rbx").offset == 8);
    CHECK(named("rip").offset == 128);
    CHECK(named("eflags").offset == 136);
    CHECK(named("cs").offset == 140);
    CHECK(named("st0").offset == 164);
    CHECK(named("fctrl").offset == 244);
    CHECK(named("fop").offset == 272);
    CHECK(named("xmm0").offset == 276);
    CHECK(named("mxcsr").offset == 532);
    CHECK(named("orig_rax").offset == 536);
    CHECK(named("fs_base").offset == 544);
    CHECK(named("gs_base").offset == 552);
    CHECK(named("cr0").offset == 560);
    CHECK(named("kernel_gs_base").offset == 608);
    CHECK(register_image_size() == 616);
    CHECK(target_registers().size() == 67);
    CHECK(target_registers()[16].name == "rip");
    CHECK(target_registers()[57].name == "orig_rax");
}

TEST_CASE("the g image carries the state's values") {
    const CpuState c = busy_state();
    const auto image = encode_register_image(c);
    REQUIRE(image.size() == 616);
    CHECK(le_at(image, 0, 8) == c.gpr[RAX]);
    CHECK(le_at(image, 8, 8) == c.gpr[RBX]); // gdb's order: rax rbx rcx rdx
    CHECK(le_at(image, 16, 8) == c.gpr[RCX]);
    CHECK(le_at(image, 48, 8) == c.gpr[RBP]);
    CHECK(le_at(image, 56, 8) == c.gpr[RSP]);
    CHECK(le_at(image, 128, 8) == 0xffffffff81234567ULL);
    CHECK(le_at(image, 136, 4) == 0x246);
    CHECK(le_at(image, 140, 4) == 0x18); // cs = seg[1]
    CHECK(le_at(image, 152, 4) == 0x10); // es = seg[0]
    CHECK(image[164] == 0x40);
    CHECK(image[173] == 0x49);
    CHECK(image[174] == 0x4a); // st1 follows after 10 bytes
    CHECK(le_at(image, 244, 4) == 0x37f);
    CHECK(le_at(image, 248, 4) == 0x3800);
    CHECK(le_at(image, 256, 4) == 0x11223344); // fiseg: fip bits 32-63
    CHECK(le_at(image, 260, 4) == 0x55667788); // fioff
    CHECK(le_at(image, 264, 4) == 0x99aabbcc);
    CHECK(le_at(image, 268, 4) == 0xddeeff00);
    CHECK(le_at(image, 272, 4) == 0x7ab);
    CHECK(image[276] == 0x00);
    CHECK(image[276 + 16 * 15 + 15] == 0xff);
    CHECK(le_at(image, 532, 4) == 0x1fa0);
    CHECK(le_at(image, 536, 8) == ~0ULL);
    CHECK(le_at(image, 544, 8) == 0x7f0000001000ULL);
    CHECK(le_at(image, 552, 8) == 0xffff888007a00000ULL);
    CHECK(le_at(image, 560, 8) == 0x80050033);
    CHECK(le_at(image, 568, 8) == 0x7ffd12345678ULL);
    CHECK(le_at(image, 576, 8) == 0x1234000);
    CHECK(le_at(image, 584, 8) == 0x6f0);
    CHECK(le_at(image, 592, 8) == 0xf);
    CHECK(le_at(image, 600, 8) == 0xd01);
    CHECK(le_at(image, 608, 8) == 0x7f0000002000ULL);
}

TEST_CASE("ftag is the full tag word computed from the abridged one") {
    CpuState c;
    SUBCASE("empty stack") {
        c.fpu.ftw = 0;
        CHECK(le_at(encode_register_image(c), 252, 4) == 0xffff);
    }
    SUBCASE("ST0 = 1.0 with TOP = 0: physical R0 valid") {
        c.fpu.fsw = 0;
        c.fpu.ftw = 0x01;
        c.fpu.st[0] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
        CHECK(le_at(encode_register_image(c), 252, 4) == 0xfffc);
    }
    SUBCASE("ST0 = 0.0 with TOP = 7: physical R7 zero") {
        c.fpu.fsw = 0x3800;
        c.fpu.ftw = 0x80;
        CHECK(le_at(encode_register_image(c), 252, 4) == 0x7fff);
    }
    SUBCASE("ST0 = infinity with TOP = 1: physical R1 special") {
        c.fpu.fsw = 0x0800;
        c.fpu.ftw = 0x02;
        c.fpu.st[0] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x7f};
        CHECK(le_at(encode_register_image(c), 252, 4) == 0xfffb);
    }
}

TEST_CASE("a CpuState round-trips through the g image") {
    const CpuState original = busy_state();
    CpuState target = original;
    scramble_visible(target);
    REQUIRE_FALSE(target == original);
    decode_register_image(encode_register_image(original), target);
    CHECK(target == original);
}

TEST_CASE("writing the image leaves what gdb cannot see alone") {
    CpuState c = busy_state();
    c.rflags |= 0x1234ULL << 32;
    const CpuState before = c;
    auto image = encode_register_image(c);
    image[536] = 0;    // orig_rax has nowhere to go
    image[140] = 0x33; // cs selector
    decode_register_image(image, c);
    CHECK(c.seg[CS].selector == 0x33);
    CHECK(c.seg[CS].base == before.seg[CS].base);
    CHECK(c.seg[CS].type == before.seg[CS].type);
    CHECK((c.rflags >> 32) == 0x1234);
    CHECK(c.msr.lstar == 0xffffffff81a00000ULL);
}

TEST_CASE("single registers for p and P") {
    CpuState c = busy_state();
    CHECK(read_register(c, 16) ==
          std::vector<uint8_t>{0x67, 0x45, 0x23, 0x81, 0xff, 0xff, 0xff, 0xff});
    CHECK(read_register(c, 17).size() == 4);
    CHECK(read_register(c, 24).size() == 10);
    CHECK(read_register(c, 40).size() == 16);
    const std::vector<uint8_t> rax = {1, 2, 3, 4, 5, 6, 7, 8};
    write_register(c, 0, rax);
    CHECK(c.gpr[RAX] == 0x0807060504030201ULL);
    const std::vector<uint8_t> cr3 = {0, 0x10, 0, 0, 0, 0, 0, 0};
    write_register(c, 62, cr3);
    CHECK(c.cr3 == 0x1000);
    CHECK_THROWS_AS(read_register(c, 67), Error);
    CHECK_THROWS_AS(write_register(c, 0, std::vector<uint8_t>(4)), Error);
    CHECK_THROWS_AS(write_register(c, 1000, rax), Error);
    CHECK_THROWS_AS(decode_register_image(std::vector<uint8_t>(615), c), Error);
    CHECK_THROWS_AS(decode_register_image(std::vector<uint8_t>(617), c), Error);
}

TEST_CASE("the XML names gdb's features and every register once") {
    const std::string& xml = target_description_xml();
    CHECK(xml.find("<architecture>i386:x86-64</architecture>") != std::string::npos);
    for (const char* f : {"org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "org.gnu.gdb.i386.linux",
                          "org.gnu.gdb.i386.segments"}) {
        CHECK(xml.find(std::string("<feature name=\"") + f + "\">") != std::string::npos);
    }
    for (const TargetRegister& r : target_registers()) {
        const std::string tag = "<reg name=\"" + std::string(r.name) + "\"";
        const size_t at = xml.find(tag);
        CHECK_MESSAGE(at != std::string::npos, r.name);
        CHECK(xml.find(tag, at + 1) == std::string::npos);
    }
}

// gdb itself reads the XML and reports where each register sits in the `g`
// packet; that must be the table's answer.
TEST_CASE("gdb 13 reads the target description with the table's numbers, sizes and offsets") {
    char path[] = "/tmp/krr-tdesc-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    const std::string& xml = target_description_xml();
    REQUIRE(::write(fd, xml.data(), xml.size()) == static_cast<ssize_t>(xml.size()));
    ::close(fd);
    const auto run =
        testing::run_gdb_batch({std::string("set tdesc filename ") + path,
                                "maint print remote-registers", "info registers cr0 efer"});
    ::unlink(path);
    INFO(run.output);
    // Without a live target gdb ends the listing with "The program has no
    // registers now." and exits with 1, so the table itself is the evidence.
    REQUIRE_MESSAGE(run.output.find("Rmt Nr") != std::string::npos,
                    "gdb did not list the registers (install Debian's gdb package)");
    CHECK(run.output.find("warning") == std::string::npos);

    struct Seen {
        size_t size;
        size_t remote_number;
        size_t offset;
    };
    std::map<std::string, Seen> seen;
    std::istringstream lines(run.output);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string name, nr, rel, offset, size, type, rmt, g_offset, extra;
        if (fields >> name >> nr >> rel >> offset >> size >> type >> rmt >> g_offset &&
            !(fields >> extra) && std::isdigit(static_cast<unsigned char>(rmt[0]))) {
            seen[name] = {std::stoul(size), std::stoul(rmt), std::stoul(g_offset)};
        }
    }
    const auto table = target_registers();
    CHECK(seen.size() == table.size());
    for (size_t n = 0; n < table.size(); ++n) {
        const TargetRegister& r = table[n];
        auto it = seen.find(std::string(r.name));
        REQUIRE_MESSAGE(it != seen.end(), "gdb does not know " << r.name);
        CHECK_MESSAGE(it->second.remote_number == n, r.name);
        CHECK_MESSAGE(it->second.size == r.bit_size / 8, r.name);
        CHECK_MESSAGE(it->second.offset == r.offset, r.name);
    }
}
