// Loads a bzImage for the 64-bit boot protocol (Documentation/x86/boot.rst,
// "64-bit Boot Protocol"): no BIOS and no real-mode setup code; the CPU
// starts in long mode at the protected-mode kernel's entry + 0x200.
//
// Memory after loading (see guest_layout.h): the protected-mode kernel at
// its pref_address; boot_params (the zero page) with the image's setup
// header, the command line, the initrd and the e820 map; the initrd page
// aligned at the top of RAM below initrd_addr_max; page tables identity
// mapping the first 4 GiB with 2 MiB pages (the CPU offers no 1 GiB pages);
// a GDT with flat 64-bit __BOOT_CS (0x10) and __BOOT_DS (0x18).
#pragma once

#include "guest-model/guest_memory.h"
#include "guest-model/kernel_image.h"
#include "guest-model/machine_state.h"
#include "recorder/machine/e820_map.h"

#include <cstdint>
#include <span>
#include <string_view>

namespace krr {

inline constexpr uint16_t kBootCodeSelector = 0x10;
inline constexpr uint16_t kBootDataSelector = 0x18;

struct LinuxBootLayout {
    uint64_t kernel_address = 0;
    uint64_t kernel_end = 0; // kernel_address + init_size: what decompression uses
    uint64_t boot_params_address = 0;
    uint64_t command_line_address = 0;
    uint64_t initrd_address = 0;
    uint64_t initrd_size = 0;
};

struct LinuxBoot {
    CpuState cpu; // the BSP's state at the kernel's 64-bit entry
    LinuxBootLayout layout;
};

// Writes everything into `memory`. Throws krr::Error when the pieces do not
// fit (memory too small for the kernel's init_size plus the initrd, a command
// line longer than the kernel accepts).
//
// With `vmlinux` (the kernel's decompressed ELF, KernelImage::decompress_vmlinux)
// its segments are placed at their physical addresses and the CPU starts at
// the ELF entry (startup_64), skipping the bzImage's decompressor: the same
// kernel state the decompressor would produce with nokaslr, hundreds of
// millions of emulated instructions sooner. Without it, the bzImage's
// protected-mode code is loaded and decompresses itself.
LinuxBoot load_linux(GuestMemory& memory, const KernelImage& kernel,
                     std::span<const uint8_t> initrd, std::string_view command_line,
                     std::span<const E820Entry> e820, std::span<const uint8_t> vmlinux = {});

// The CPU state the 64-bit boot protocol asks for: long mode, paging with
// `cr3`, the boot GDT at `gdt`, interrupts off, RSI = boot_params.
CpuState linux_entry_state(uint64_t entry, uint64_t boot_params, uint64_t cr3, uint64_t gdt,
                           uint64_t stack_top);

} // namespace krr
