#include "replay-engine/system/model_specific_registers.h"

#include "replay-engine/system/control_registers.h"

namespace krr {

namespace {

bool valid_pat(uint64_t value) {
    for (int i = 0; i < 8; ++i) {
        uint8_t type = (value >> (8 * i)) & 0xff;
        // UC, WC, WT, WP, WB, UC-: 2 and 3 are reserved, as is anything > 7.
        if (type == 2 || type == 3 || type > 7) {
            return false;
        }
    }
    return true;
}

} // namespace

std::optional<uint64_t> read_msr(const CpuState& cpu, uint32_t index, uint64_t virtual_tsc) {
    const auto& m = cpu.msr;
    switch (index) {
    case msr::kTsc:
        return virtual_tsc + m.tsc_offset;
    case msr::kApicBase:
        return m.apic_base;
    case msr::kUcodeRev:
        return 0; // "no microcode loaded": the kernel reads it unconditionally on Intel
    case msr::kPlatformId:
        return 0; // read by the microcode driver on Intel CPUs
    case msr::kSysenterCs:
        return m.sysenter_cs;
    case msr::kSysenterEsp:
        return m.sysenter_esp;
    case msr::kSysenterEip:
        return m.sysenter_eip;
    case msr::kMiscEnable:
        return m.misc_enable;
    case msr::kPat:
        return m.pat;
    case msr::kEfer:
        return m.efer;
    case msr::kStar:
        return m.star;
    case msr::kLstar:
        return m.lstar;
    case msr::kCstar:
        return m.cstar;
    case msr::kSfmask:
        return m.sfmask;
    case msr::kFsBase:
        return cpu.seg[FS].base;
    case msr::kGsBase:
        return cpu.seg[GS].base;
    case msr::kKernelGsBase:
        return m.kernel_gs_base;
    default:
        return std::nullopt;
    }
}

bool write_msr(CpuState& cpu, LinearMemory& memory, uint32_t index, uint64_t value,
               uint64_t virtual_tsc) {
    auto& m = cpu.msr;
    switch (index) {
    case msr::kTsc:
        m.tsc_offset = value - virtual_tsc;
        return true;
    case msr::kApicBase:
        // Bits: BSP (8, read-only), EN (11), base (12..39). No x2APIC (bit 10).
        if (value & ~(0xfffffff000ULL | (1ULL << 11) | (1ULL << 8))) {
            return false;
        }
        m.apic_base = (value & ~(1ULL << 8)) | (m.apic_base & (1ULL << 8));
        return true;
    case msr::kUcodeRev:
        return true; // the kernel writes 0 before reading: ignored
    case msr::kSysenterCs:
        m.sysenter_cs = value & 0xffff;
        return true;
    case msr::kSysenterEsp:
    case msr::kSysenterEip:
        if (!is_canonical(value)) {
            return false;
        }
        (index == msr::kSysenterEsp ? m.sysenter_esp : m.sysenter_eip) = value;
        return true;
    case msr::kMiscEnable:
        // Only fast-strings (bit 0) is writable here; the rest reads as set.
        m.misc_enable = (m.misc_enable & ~1ULL) | (value & 1ULL);
        return true;
    case msr::kPat:
        if (!valid_pat(value)) {
            return false;
        }
        m.pat = value;
        return true;
    case msr::kEfer:
        try {
            write_efer(cpu, memory, value);
        } catch (const GuestFault&) {
            return false;
        }
        return true;
    case msr::kStar:
        m.star = value;
        return true;
    case msr::kLstar:
    case msr::kCstar:
    case msr::kFsBase:
    case msr::kGsBase:
    case msr::kKernelGsBase:
        if (!is_canonical(value)) {
            return false;
        }
        if (index == msr::kLstar) {
            m.lstar = value;
        } else if (index == msr::kCstar) {
            m.cstar = value;
        } else if (index == msr::kFsBase) {
            cpu.seg[FS].base = value;
        } else if (index == msr::kGsBase) {
            cpu.seg[GS].base = value;
        } else {
            m.kernel_gs_base = value;
        }
        return true;
    case msr::kSfmask:
        m.sfmask = value & 0xffffffffULL;
        return true;
    default:
        return false;
    }
}

} // namespace krr
