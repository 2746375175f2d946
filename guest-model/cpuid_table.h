// The feature-masked CPU's CPUID answers as data. The same table is given to
// KVM (KVM_SET_CPUID2), answered by the emulator, and stored in the trace.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace krr {

struct CpuidEntry {
    uint32_t leaf = 0;
    uint32_t subleaf = 0;
    // True when the answer depends on ECX (the subleaf); otherwise `subleaf`
    // is ignored on lookup.
    bool indexed = false;
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;

    bool operator==(const CpuidEntry&) const = default;
};

struct CpuidTable {
    std::vector<CpuidEntry> entries;

    // As the CPU answers: an unknown leaf within the basic or extended range
    // returns the highest basic leaf's values (Intel behaviour); outside,
    // zeros. `vcpu_id` fills the initial APIC ID fields.
    CpuidEntry lookup(uint32_t leaf, uint32_t subleaf, uint32_t vcpu_id = 0) const;
    std::optional<CpuidEntry> find(uint32_t leaf, uint32_t subleaf) const;

    bool operator==(const CpuidTable&) const = default;
};

// Baseline x86-64 + SSE2, CX8/CX16, NX, SYSCALL, CMOV, FXSR, APIC, TSC, PAT,
// PGE, CLFLUSH: what both accelerators here run, and nothing the emulator
// does not implement (see ../shared/ARCHITECTURE.md, decision 2).
CpuidTable default_cpuid_table(uint32_t vcpu_count = 1);

} // namespace krr
