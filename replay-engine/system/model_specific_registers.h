// RDMSR and WRMSR for the MSRs the masked CPU implements. Anything else is
// #GP, which the kernel's *_safe accessors expect from absent features.
// Time (IA32_TSC) is a function of the virtual clock, passed in by the
// caller, so both accelerators and replay agree.
#pragma once

#include "guest-model/machine_state.h"
#include "replay-engine/mmu/linear_memory.h"

#include <cstdint>
#include <optional>

namespace krr {

namespace msr {
inline constexpr uint32_t kTsc = 0x10;
inline constexpr uint32_t kPlatformId = 0x17;
inline constexpr uint32_t kApicBase = 0x1b;
inline constexpr uint32_t kUcodeRev = 0x8b;
inline constexpr uint32_t kSysenterCs = 0x174;
inline constexpr uint32_t kSysenterEsp = 0x175;
inline constexpr uint32_t kSysenterEip = 0x176;
inline constexpr uint32_t kMiscEnable = 0x1a0;
inline constexpr uint32_t kPat = 0x277;
inline constexpr uint32_t kEfer = 0xc0000080;
inline constexpr uint32_t kStar = 0xc0000081;
inline constexpr uint32_t kLstar = 0xc0000082;
inline constexpr uint32_t kCstar = 0xc0000083;
inline constexpr uint32_t kSfmask = 0xc0000084;
inline constexpr uint32_t kFsBase = 0xc0000100;
inline constexpr uint32_t kGsBase = 0xc0000101;
inline constexpr uint32_t kKernelGsBase = 0xc0000102;
} // namespace msr

// nullopt: #GP. `virtual_tsc` is the clock's TSC value now (before offset).
std::optional<uint64_t> read_msr(const CpuState& cpu, uint32_t index, uint64_t virtual_tsc);

// false: #GP. APIC base writes only update the register; relocating or
// disabling the APIC is the machine's business (it reads cpu.msr.apic_base).
bool write_msr(CpuState& cpu, LinearMemory& memory, uint32_t index, uint64_t value,
               uint64_t virtual_tsc);

} // namespace krr
