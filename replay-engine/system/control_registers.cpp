#include "replay-engine/system/control_registers.h"

namespace krr {

namespace {

constexpr uint64_t kCr0Pe = 1ULL << 0, kCr0Et = 1ULL << 4, kCr0Wp = 1ULL << 16, kCr0Nw = 1ULL << 29,
                   kCr0Cd = 1ULL << 30, kCr0Pg = 1ULL << 31;
// PE MP EM TS ET NE WP AM NW CD PG.
constexpr uint64_t kCr0Defined = 0xe005003fULL;

constexpr uint64_t kCr4Tsd = 1ULL << 2, kCr4Pse = 1ULL << 4, kCr4Pae = 1ULL << 5,
                   kCr4Pge = 1ULL << 7, kCr4Pce = 1ULL << 8, kCr4Osfxsr = 1ULL << 9,
                   kCr4Osxmmexcpt = 1ULL << 10;

constexpr uint64_t kEferSce = 1ULL << 0, kEferLme = 1ULL << 8, kEferLma = 1ULL << 10,
                   kEferNxe = 1ULL << 11;

} // namespace

uint64_t supported_cr4_bits() {
    // No VME/PVI/DE/MCE (not in CPUID), no UMIP, LA57, FSGSBASE, PCIDE,
    // OSXSAVE, SMEP, SMAP, PKE: setting them is #GP on this CPU.
    return kCr4Tsd | kCr4Pse | kCr4Pae | kCr4Pge | kCr4Pce | kCr4Osfxsr | kCr4Osxmmexcpt;
}

void sync_paging(const CpuState& cpu, LinearMemory& memory) {
    memory.set_paging({cpu.cr0, cpu.cr3, cpu.cr4, cpu.msr.efer});
}

void write_cr0(CpuState& cpu, LinearMemory& memory, uint64_t value) {
    if (value & ~kCr0Defined) {
        throw GuestFault::gp(0);
    }
    value |= kCr0Et; // ET is hard-wired to 1
    if ((value & kCr0Pg) && !(value & kCr0Pe)) {
        throw GuestFault::gp(0);
    }
    if ((value & kCr0Nw) && !(value & kCr0Cd)) {
        throw GuestFault::gp(0);
    }
    uint64_t efer = cpu.msr.efer;
    bool enabling_paging = (value & kCr0Pg) && !(cpu.cr0 & kCr0Pg);
    bool disabling_paging = !(value & kCr0Pg) && (cpu.cr0 & kCr0Pg);
    if (enabling_paging && (efer & kEferLme)) {
        if (!(cpu.cr4 & kCr4Pae)) {
            throw GuestFault::gp(0);
        }
        efer |= kEferLma;
    }
    if (disabling_paging && (efer & kEferLma)) {
        // Leaving long mode is only legal from compatibility mode.
        if (cpu.seg[CS].l) {
            throw GuestFault::gp(0);
        }
        efer &= ~kEferLma;
    }
    bool flush = ((value ^ cpu.cr0) & (kCr0Pg | kCr0Wp | kCr0Pe)) != 0;
    cpu.cr0 = value;
    cpu.msr.efer = efer;
    sync_paging(cpu, memory);
    if (flush) {
        memory.tlb().flush_all();
    }
}

void write_cr3(CpuState& cpu, LinearMemory& memory, uint64_t value) {
    // Without PCID, bits 63:MAXPHYADDR are reserved.
    if (value >> kPhysicalAddressBits) {
        throw GuestFault::gp(0);
    }
    cpu.cr3 = value;
    sync_paging(cpu, memory);
    memory.tlb().flush_non_global();
}

void write_cr4(CpuState& cpu, LinearMemory& memory, uint64_t value) {
    if (value & ~supported_cr4_bits()) {
        throw GuestFault::gp(0);
    }
    if ((cpu.msr.efer & kEferLma) && !(value & kCr4Pae)) {
        throw GuestFault::gp(0);
    }
    bool flush = ((value ^ cpu.cr4) & (kCr4Pge | kCr4Pae | kCr4Pse)) != 0;
    cpu.cr4 = value;
    sync_paging(cpu, memory);
    if (flush) {
        memory.tlb().flush_all();
    }
}

void write_cr8(CpuState& cpu, uint64_t value) {
    if (value & ~0xfULL) {
        throw GuestFault::gp(0);
    }
    cpu.cr8 = value;
}

void write_efer(CpuState& cpu, LinearMemory& memory, uint64_t value) {
    // SCE, LME, LMA (read-only: writes must match), NXE.
    if (value & ~(kEferSce | kEferLme | kEferLma | kEferNxe)) {
        throw GuestFault::gp(0);
    }
    if ((cpu.cr0 & kCr0Pg) && ((value ^ cpu.msr.efer) & kEferLme)) {
        throw GuestFault::gp(0);
    }
    value = (value & ~kEferLma) | (cpu.msr.efer & kEferLma);
    bool flush = ((value ^ cpu.msr.efer) & kEferNxe) != 0;
    cpu.msr.efer = value;
    sync_paging(cpu, memory);
    if (flush) {
        memory.tlb().flush_all();
    }
}

} // namespace krr
