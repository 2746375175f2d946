#include "recorder/machine/linux_loader.h"

#include "guest-model/elf_image.h"
#include "guest-model/error.h"
#include "recorder/machine/guest_layout.h"
#include "recorder/machine/log.h"

#include <algorithm>
#include <array>
#include <vector>

namespace krr {

namespace {

// boot_params offsets (Documentation/x86/zero-page.rst, boot.rst).
constexpr size_t kBootParamsSize = 0x1000;
constexpr size_t kExtRamdiskImage = 0x0c0;
constexpr size_t kExtRamdiskSize = 0x0c4;
constexpr size_t kExtCmdLinePtr = 0x0c8;
constexpr size_t kE820Entries = 0x1e8;
constexpr size_t kCode32Start = 0x214;
constexpr size_t kTypeOfLoader = 0x210;
constexpr size_t kLoadflags = 0x211;
constexpr size_t kRamdiskImage = 0x218;
constexpr size_t kRamdiskSize = 0x21c;
constexpr size_t kCmdLinePtr = 0x228;
constexpr size_t kE820Table = 0x2d0;
constexpr size_t kE820MaxEntries = 128;
constexpr size_t kE820EntrySize = 20;

// "Undefined" boot loader ID: krr has none assigned.
constexpr uint8_t kLoaderTypeUndefined = 0xff;

constexpr uint64_t kPresentWritable = 0x3;
constexpr uint64_t kLargePage = 0x80;
constexpr uint64_t kTwoMiB = 0x200000;
constexpr unsigned kPageDirectoryCount = 4;

constexpr uint64_t kCr0Pe = 1ULL << 0;
constexpr uint64_t kCr0Et = 1ULL << 4;
constexpr uint64_t kCr0Pg = 1ULL << 31;
constexpr uint64_t kCr4Pae = 1ULL << 5;
constexpr uint64_t kEferLme = 1ULL << 8;
constexpr uint64_t kEferLma = 1ULL << 10;

// Flat descriptors: 64-bit code (L=1, execute/read) and 32-bit data
// (read/write), both base 0, limit 4 GiB, present, DPL 0, accessed.
constexpr uint64_t kCode64Descriptor = 0x00af9b000000ffffULL;
constexpr uint64_t kDataDescriptor = 0x00cf93000000ffffULL;

void put(std::vector<uint8_t>& bytes, size_t offset, uint64_t value, int width) {
    for (int i = 0; i < width; ++i)
        bytes.at(offset + i) = uint8_t(value >> (8 * i));
}

void write(GuestMemory& memory, uint64_t address, std::span<const uint8_t> bytes,
           const char* what) {
    if (!memory.write(address, bytes))
        throw Error(std::string("loading Linux: writing the ") + what,
                    hex(bytes.size()) + " bytes at " + hex(address) +
                        " do not fit in guest memory of " + hex(memory.size()) + " bytes");
}

void write_u64s(GuestMemory& memory, uint64_t address, const std::vector<uint64_t>& values,
                const char* what) {
    std::vector<uint8_t> bytes(values.size() * 8);
    for (size_t i = 0; i < values.size(); ++i)
        put(bytes, i * 8, values[i], 8);
    write(memory, address, bytes, what);
}

Segment flat_segment(uint16_t selector, bool code) {
    Segment s;
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = code ? 0xb : 0x3;
    s.s = 1;
    s.dpl = 0;
    s.present = 1;
    s.l = code ? 1 : 0;
    s.db = code ? 0 : 1;
    s.g = 1;
    return s;
}

} // namespace

CpuState linux_entry_state(uint64_t entry, uint64_t boot_params, uint64_t cr3, uint64_t gdt,
                           uint64_t stack_top) {
    CpuState cpu;
    cpu.rip = entry;
    cpu.gpr[RSI] = boot_params;
    // The decompressor's first instructions push a far return address
    // before switching to its own stack, so the entry stack must be valid.
    cpu.gpr[RSP] = stack_top;
    cpu.rflags = 0x2; // IF clear
    cpu.seg[CS] = flat_segment(kBootCodeSelector, true);
    for (SegmentIndex s : {ES, SS, DS, FS, GS})
        cpu.seg[s] = flat_segment(kBootDataSelector, false);
    // A present, busy 64-bit TSS: what VMX entry demands of TR; the kernel
    // loads its own before it needs one.
    cpu.tr.limit = 0xffff;
    cpu.tr.type = 0xb;
    cpu.tr.present = 1;
    cpu.ldtr.type = 0x2;
    cpu.ldtr.unusable = 1;
    cpu.gdtr.base = gdt;
    cpu.gdtr.limit = 4 * 8 - 1;
    cpu.idtr = {};
    cpu.cr0 = kCr0Pe | kCr0Et | kCr0Pg;
    cpu.cr3 = cr3;
    cpu.cr4 = kCr4Pae;
    cpu.msr.efer = kEferLme | kEferLma;
    return cpu;
}

LinuxBoot load_linux(GuestMemory& memory, const KernelImage& kernel,
                     std::span<const uint8_t> initrd, std::string_view command_line,
                     std::span<const E820Entry> e820, std::span<const uint8_t> vmlinux) {
    using namespace guest_layout;
    LinuxBoot boot;
    LinuxBootLayout& layout = boot.layout;

    uint64_t entry = 0;
    uint64_t footprint = 0;
    if (vmlinux.empty()) {
        // The kernel: at its preferred address (LOAD_PHYSICAL_ADDR), where it
        // decompresses in place; init_size is how much room that takes.
        std::span<const uint8_t> code = kernel.protected_mode_code();
        layout.kernel_address = kernel.pref_address();
        footprint = std::max<uint64_t>(kernel.init_size(), code.size());
        layout.kernel_end = layout.kernel_address + footprint;
        if (layout.kernel_end > memory.size())
            throw Error("loading Linux", "the kernel needs memory up to " + hex(layout.kernel_end) +
                                             " but the guest has " + hex(memory.size()) + " bytes");
        write(memory, layout.kernel_address, code, "kernel");
        entry = layout.kernel_address + KernelImage::entry_64_offset;
    } else {
        // The decompressed kernel, segment by segment at its physical
        // addresses (where the decompressor would have put it).
        ElfImage elf = parse_elf_image(vmlinux, kernel.name() + " (vmlinux)");
        layout.kernel_address = UINT64_MAX;
        bool entry_inside = false;
        for (const ElfSegment& segment : elf.segments) {
            uint64_t end = segment.physical_address + segment.memory_size;
            if (end < segment.physical_address || end > memory.size())
                throw Error("loading Linux", "the kernel needs memory up to " + hex(end) +
                                                 " but the guest has " + hex(memory.size()) +
                                                 " bytes");
            write(memory, segment.physical_address,
                  vmlinux.subspan(segment.file_offset, segment.file_size), "kernel");
            std::vector<uint8_t> zeros(segment.memory_size - segment.file_size, 0);
            write(memory, segment.physical_address + segment.file_size, zeros, "kernel");
            layout.kernel_address = std::min(layout.kernel_address, segment.physical_address);
            layout.kernel_end = std::max(layout.kernel_end, end);
            entry_inside =
                entry_inside || (elf.entry >= segment.physical_address && elf.entry < end);
        }
        if (!entry_inside)
            throw Error("loading Linux",
                        "the vmlinux entry point " + hex(elf.entry) + " is outside its segments");
        footprint = layout.kernel_end - layout.kernel_address;
        entry = elf.entry;
    }

    // The command line.
    uint64_t max_command_line = kernel.cmdline_size() ? kernel.cmdline_size() : 255;
    if (command_line.size() > max_command_line || command_line.size() >= kCommandLineMax)
        throw Error("loading Linux", "the command line is " + std::to_string(command_line.size()) +
                                         " bytes; this kernel accepts at most " +
                                         std::to_string(max_command_line));
    std::vector<uint8_t> line(command_line.begin(), command_line.end());
    line.push_back(0);
    layout.command_line_address = kCommandLine;
    write(memory, kCommandLine, line, "command line");

    // The initrd: page aligned, as high as the kernel allows, above the
    // kernel's decompression area.
    if (!initrd.empty()) {
        uint64_t limit = std::min<uint64_t>(memory.size(), uint64_t(kernel.initrd_addr_max()) + 1);
        if (initrd.size() > limit)
            throw Error("loading Linux", "the initrd of " + hex(initrd.size()) +
                                             " bytes does not fit below " + hex(limit));
        uint64_t address = (limit - initrd.size()) & ~(kPageSize - 1);
        if (address < layout.kernel_end)
            throw Error("loading Linux", "guest memory of " + hex(memory.size()) +
                                             " bytes cannot hold the kernel (" + hex(footprint) +
                                             " bytes at " + hex(layout.kernel_address) +
                                             ") and the initrd (" + hex(initrd.size()) + " bytes)");
        layout.initrd_address = address;
        layout.initrd_size = initrd.size();
        write(memory, address, initrd, "initrd");
    }

    // boot_params.
    std::vector<uint8_t> params(kBootParamsSize, 0);
    std::span<const uint8_t> header = kernel.setup_header_bytes();
    if (KernelImage::setup_header_offset + header.size() > kE820Table)
        throw Error("loading Linux", "the kernel's setup header is " + hex(header.size()) +
                                         " bytes, longer than boot_params has room for");
    std::copy(header.begin(), header.end(), params.begin() + KernelImage::setup_header_offset);
    params[kTypeOfLoader] = kLoaderTypeUndefined;
    params[kLoadflags] |= KernelImage::loaded_high;
    put(params, kCode32Start, layout.kernel_address, 4);
    put(params, kCmdLinePtr, uint32_t(layout.command_line_address), 4);
    put(params, kExtCmdLinePtr, layout.command_line_address >> 32, 4);
    put(params, kRamdiskImage, uint32_t(layout.initrd_address), 4);
    put(params, kRamdiskSize, uint32_t(layout.initrd_size), 4);
    put(params, kExtRamdiskImage, layout.initrd_address >> 32, 4);
    put(params, kExtRamdiskSize, layout.initrd_size >> 32, 4);
    if (e820.size() > kE820MaxEntries)
        throw Error("loading Linux", "the e820 map has more than 128 entries");
    params[kE820Entries] = uint8_t(e820.size());
    for (size_t i = 0; i < e820.size(); ++i) {
        size_t at = kE820Table + i * kE820EntrySize;
        put(params, at, e820[i].address, 8);
        put(params, at + 8, e820[i].size, 8);
        put(params, at + 16, uint32_t(e820[i].type), 4);
    }
    layout.boot_params_address = kBootParams;
    write(memory, kBootParams, params, "boot parameters");

    // Identity-mapped page tables for the first 4 GiB, 2 MiB pages.
    std::vector<uint64_t> pml4(512, 0);
    pml4[0] = kPdpt | kPresentWritable;
    write_u64s(memory, kPml4, pml4, "page map level 4");
    std::vector<uint64_t> pdpt(512, 0);
    for (unsigned i = 0; i < kPageDirectoryCount; ++i)
        pdpt[i] = (kPageDirectories + i * kPageSize) | kPresentWritable;
    write_u64s(memory, kPdpt, pdpt, "page directory pointer table");
    std::vector<uint64_t> directories;
    for (uint64_t i = 0; i < kPageDirectoryCount * 512; ++i)
        directories.push_back((i * kTwoMiB) | kLargePage | kPresentWritable);
    write_u64s(memory, kPageDirectories, directories, "page directories");

    write_u64s(memory, kGdt, {0, 0, kCode64Descriptor, kDataDescriptor}, "GDT");

    boot.cpu = linux_entry_state(entry, kBootParams, kPml4, kGdt, kBootStackTop);
    return boot;
}

} // namespace krr
