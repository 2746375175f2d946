// MOV to CR0, CR3, CR4, CR8 and WRMSR to EFER as the architecture checks
// them (#GP for reserved bits and invalid combinations, given the masked
// CPU's CPUID), with their effect on the TLB. The caller raises the fault
// and keeps LinearMemory's paging state in step (`sync_paging`).
#pragma once

#include "guest-model/machine_state.h"
#include "replay-engine/mmu/linear_memory.h"

#include <cstdint>

namespace krr {

// Each throws GuestFault::gp(0) when the value is not allowed.
void write_cr0(CpuState& cpu, LinearMemory& memory, uint64_t value);
void write_cr3(CpuState& cpu, LinearMemory& memory, uint64_t value);
void write_cr4(CpuState& cpu, LinearMemory& memory, uint64_t value);
void write_cr8(CpuState& cpu, uint64_t value);
void write_efer(CpuState& cpu, LinearMemory& memory, uint64_t value);

// Copy the control registers paging depends on into LinearMemory.
void sync_paging(const CpuState& cpu, LinearMemory& memory);

// Bits of CR4 the masked CPU lets software set.
uint64_t supported_cr4_bits();

} // namespace krr
