// Where the machine puts things in guest-physical memory. The low
// addresses hold what only the boot needs (the kernel copies boot_params and
// the command line early and builds its own page tables, after which these
// pages are ordinary free memory); the EBDA holds the MP table the kernel
// keeps reading.
#pragma once

#include <cstdint>

namespace krr::guest_layout {

inline constexpr uint64_t kBiosDataArea = 0x400;
inline constexpr uint64_t kGdt = 0x1000;
inline constexpr uint64_t kBootStackTop = 0x7000; // grows down from boot_params
inline constexpr uint64_t kBootParams = 0x7000;
inline constexpr uint64_t kPml4 = 0x9000;
inline constexpr uint64_t kPdpt = 0xa000;
inline constexpr uint64_t kPageDirectories = 0xb000; // four, covering 4 GiB
inline constexpr uint64_t kCommandLine = 0x20000;
inline constexpr uint64_t kCommandLineMax = 0x10000;
// Extended BIOS data area: the last KiB below 640 KiB, where mpparse looks.
inline constexpr uint64_t kEbda = 0x9fc00;
inline constexpr uint64_t kEbdaEnd = 0xa0000;
inline constexpr uint64_t kBiosRom = 0xf0000;
inline constexpr uint64_t kHighMemory = 0x100000;

inline constexpr uint64_t kIoApicBase = 0xfec00000;
inline constexpr uint64_t kLocalApicBase = 0xfee00000;
inline constexpr uint64_t kApicWindowSize = 0x1000;
// RAM is one block from address 0; it must end below the I/O APIC window.
inline constexpr uint64_t kMaxMemory = 0xc0000000;

} // namespace krr::guest_layout
