// The 64-bit boot protocol state for Debian's real bzImage, checked against
// the image file read here directly (Documentation/x86/boot.rst) and against
// a page walk written here.
#include "guest-model/kernel_image.h"
#include "machine_fixture.h"

#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

std::string default_kernel_path() {
    const char* cache = std::getenv("KRR_CACHE");
    std::string base = cache && *cache ? cache : std::string(std::getenv("HOME")) + "/.cache/krr";
    return base + "/kernels/default/vmlinuz";
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint64_t le(const uint8_t* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i)
        v = v << 8 | p[i];
    return v;
}

// 4-level walk with 2 MiB pages allowed; returns ~0 when not mapped.
uint64_t translate(const uint8_t* memory, uint64_t cr3, uint64_t va) {
    uint64_t table = cr3 & ~0xfffULL;
    for (int level = 3; level >= 0; --level) {
        uint64_t index = (va >> (12 + 9 * level)) & 511;
        uint64_t entry = le(memory + table + index * 8, 8);
        if (!(entry & 1))
            return ~0ULL;
        if (level == 1 && (entry & 0x80))
            return (entry & 0x000fffffffe00000ULL) + (va & 0x1fffff);
        table = entry & 0x000ffffffffff000ULL;
    }
    return table + (va & 0xfff);
}

} // namespace

TEST_CASE("provisioned kernel: boot_params, memory and CPU state for the 64-bit boot protocol") {
    std::string path = default_kernel_path();
    std::vector<uint8_t> image = read_file(path);
    if (image.size() < 0x1000)
        FAIL("no kernel at " << path << ": run ./scripts/setup to provision the default guest");

    krr::MachineConfig config;
    config.memory_bytes = 256ULL << 20;
    config.kernel_path = path;
    config.initrd = std::vector<uint8_t>(100000, 0x5a);
    config.command_line = "console=ttyS0 nokaslr tsc=unstable";
    config.boot_through_decompressor = true; // the bzImage path; see the vmlinux test below
    krr::Machine machine(config, {});
    const uint8_t* mem = machine.memory().base();
    const uint64_t bp = 0x7000;

    // Setup header copied from the image, from 0x1f1 to 0x202 + byte 0x201.
    size_t header_end = 0x202 + image[0x201];
    CHECK(std::memcmp(mem + bp + 0x202, "HdrS", 4) == 0);
    CHECK(std::memcmp(mem + bp + 0x1f1, image.data() + 0x1f1, 0x210 - 0x1f1) == 0);
    CHECK(std::memcmp(mem + bp + 0x258, image.data() + 0x258, header_end - 0x258) == 0);
    CHECK(mem[bp + 0x210] == 0xff);          // type_of_loader
    CHECK((mem[bp + 0x211] & 0x01) == 0x01); // LOADED_HIGH
    uint64_t cmdline = le(mem + bp + 0x228, 4) | le(mem + bp + 0xc8, 4) << 32;
    CHECK(std::string(reinterpret_cast<const char*>(mem + cmdline)) == config.command_line);

    // The protected-mode kernel at pref_address.
    unsigned setup_sects = image[0x1f1] ? image[0x1f1] : 4;
    size_t pm_offset = (setup_sects + 1) * 512;
    uint64_t pref = le(image.data() + 0x258, 8);
    CHECK(pref == 0x1000000);
    CHECK(std::memcmp(mem + pref, image.data() + pm_offset, image.size() - pm_offset) == 0);

    // The initrd: page aligned, above the kernel's init_size, below initrd_addr_max.
    uint64_t initrd = le(mem + bp + 0x218, 4) | le(mem + bp + 0xc0, 4) << 32;
    uint64_t initrd_size = le(mem + bp + 0x21c, 4) | le(mem + bp + 0xc4, 4) << 32;
    CHECK(initrd_size == config.initrd.size());
    CHECK(initrd % 4096 == 0);
    CHECK(initrd >= pref + le(image.data() + 0x260, 4));
    CHECK(initrd + initrd_size <= config.memory_bytes);
    CHECK(initrd + initrd_size - 1 <= le(image.data() + 0x22c, 4));
    CHECK(mem[initrd] == 0x5a);
    CHECK(mem[initrd + initrd_size - 1] == 0x5a);

    // e820 table in boot_params.
    unsigned entries = mem[bp + 0x1e8];
    REQUIRE(entries == machine.e820().size());
    for (unsigned i = 0; i < entries; ++i) {
        const uint8_t* e = mem + bp + 0x2d0 + 20 * i;
        CHECK(le(e, 8) == machine.e820()[i].address);
        CHECK(le(e + 8, 8) == machine.e820()[i].size);
        CHECK(le(e + 16, 4) == uint32_t(machine.e820()[i].type));
    }

    // CPU state at the 64-bit entry.
    const krr::CpuState& cpu = machine.vcpu(0).cpu;
    CHECK(cpu.rip == pref + 0x200);
    CHECK(cpu.gpr[krr::RSI] == bp);
    CHECK((cpu.rflags & 0x200) == 0);
    CHECK((cpu.cr0 & 0x80000001) == 0x80000001);
    CHECK((cpu.cr4 & 0x20) == 0x20);
    CHECK((cpu.msr.efer & 0x500) == 0x500);
    CHECK(cpu.seg[krr::CS].selector == 0x10);
    CHECK(cpu.seg[krr::CS].l == 1);
    CHECK(cpu.seg[krr::CS].db == 0);
    for (auto s : {krr::DS, krr::ES, krr::SS})
        CHECK(cpu.seg[s].selector == 0x18);
    // The GDT holds the descriptors the selectors name.
    uint64_t code = le(mem + cpu.gdtr.base + 0x10, 8);
    uint64_t data = le(mem + cpu.gdtr.base + 0x18, 8);
    CHECK(((code >> 40) & 0x9a) == 0x9a); // present, code, readable
    CHECK(((code >> 53) & 1) == 1);       // L
    CHECK(((data >> 40) & 0x92) == 0x92); // present, data, writable
    CHECK(cpu.gdtr.limit >= 0x1f);

    // Identity mapping over the first 4 GiB.
    for (uint64_t va :
         std::vector<uint64_t>{0, 0x7000, pref + 0x200, initrd, 0xfee00000, 0xffffffff})
        CHECK(translate(mem, cpu.cr3, va) == va);
    // The stack the decompressor first pushes to is mapped RAM.
    CHECK(cpu.gpr[krr::RSP] > 0x1000);
    CHECK(cpu.gpr[krr::RSP] <= bp);
}

TEST_CASE("provisioned kernel: memory too small for kernel and initrd is an error") {
    std::string path = default_kernel_path();
    if (read_file(path).size() < 0x1000)
        FAIL("no kernel at " << path << ": run ./scripts/setup to provision the default guest");
    krr::MachineConfig config;
    config.memory_bytes = 32ULL << 20;
    config.kernel_path = path;
    config.initrd = std::vector<uint8_t>(8 << 20, 0);
    CHECK_THROWS_AS(krr::Machine(config, {}), krr::Error);
}

TEST_CASE("the decompressed vmlinux is placed segment by segment and entered at startup_64") {
    const std::string path = default_kernel_path();
    std::ifstream in(path, std::ios::binary);
    if (!in)
        FAIL("no kernel at " << path << ": run ./scripts/setup to provision the default guest");
    krr::KernelImage kernel = krr::KernelImage::load(path);
    std::vector<uint8_t> elf = kernel.decompress_vmlinux();
    REQUIRE(elf.size() > 64);

    krr::MachineConfig config;
    config.memory_bytes = 256ULL << 20;
    config.kernel_path = path;
    config.initrd = std::vector<uint8_t>(4096, 0x5a);
    krr::Machine machine(config, {});
    const uint8_t* mem = machine.memory().base();

    // Program headers read by hand (ELF64: e_entry at 0x18, e_phoff at 0x20,
    // e_phentsize at 0x36, e_phnum at 0x38), independently of the loader.
    uint64_t entry = le(elf.data() + 0x18, 8);
    uint64_t phoff = le(elf.data() + 0x20, 8);
    unsigned phentsize = unsigned(le(elf.data() + 0x36, 2));
    unsigned phnum = unsigned(le(elf.data() + 0x38, 2));
    unsigned loads = 0;
    for (unsigned i = 0; i < phnum; ++i) {
        const uint8_t* ph = elf.data() + phoff + uint64_t(i) * phentsize;
        if (le(ph, 4) != 1) // PT_LOAD
            continue;
        ++loads;
        uint64_t offset = le(ph + 8, 8), paddr = le(ph + 24, 8), filesz = le(ph + 32, 8),
                 memsz = le(ph + 40, 8);
        INFO("segment " << i);
        CHECK(std::memcmp(mem + paddr, elf.data() + offset, filesz) == 0);
        for (uint64_t z = filesz; z < memsz; z += 4093)
            CHECK(mem[paddr + z] == 0);
    }
    CHECK(loads >= 3);
    CHECK(machine.vcpu(0).cpu.rip == entry);
    CHECK(machine.vcpu(0).cpu.gpr[krr::RSI] == 0x7000);
    CHECK(machine.boot_layout().kernel_address == 0x1000000);
}
