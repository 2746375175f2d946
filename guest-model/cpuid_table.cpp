#include "guest-model/cpuid_table.h"

#include <cstring>

namespace krr {

namespace {

constexpr uint32_t kMaxBasicLeaf = 0x7;
constexpr uint32_t kMaxExtendedLeaf = 0x80000008;

// Four little-endian ASCII characters as a register value.
constexpr uint32_t ascii4(const char (&s)[5]) {
    return static_cast<uint32_t>(s[0]) | static_cast<uint32_t>(s[1]) << 8 |
           static_cast<uint32_t>(s[2]) << 16 | static_cast<uint32_t>(s[3]) << 24;
}

// CPUID.1:EDX bits.
constexpr uint32_t kFpu = 1u << 0, kPse = 1u << 3, kTsc = 1u << 4, kMsr = 1u << 5, kPae = 1u << 6,
                   kCx8 = 1u << 8, kApic = 1u << 9, kSep = 1u << 11, kPge = 1u << 13,
                   kCmov = 1u << 15, kPat = 1u << 16, kClflush = 1u << 19, kMmx = 1u << 23,
                   kFxsr = 1u << 24, kSse = 1u << 25, kSse2 = 1u << 26, kHtt = 1u << 28;
// CPUID.1:ECX bits.
constexpr uint32_t kCx16 = 1u << 13;
// CPUID.80000001:EDX bits.
constexpr uint32_t kSyscall = 1u << 11, kNx = 1u << 20, kPdpe1gb = 1u << 26, kLm = 1u << 29;

void add(CpuidTable& t, uint32_t leaf, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx) {
    t.entries.push_back(CpuidEntry{leaf, 0, false, eax, ebx, ecx, edx});
}

void add_indexed(CpuidTable& t, uint32_t leaf, uint32_t subleaf, uint32_t eax, uint32_t ebx,
                 uint32_t ecx, uint32_t edx) {
    t.entries.push_back(CpuidEntry{leaf, subleaf, true, eax, ebx, ecx, edx});
}

} // namespace

CpuidTable default_cpuid_table(uint32_t vcpu_count) {
    CpuidTable t;
    // Vendor "GenuineIntel": the host here is Intel, and KVM's CPUID checks
    // are happiest when the guest's vendor matches.
    add(t, 0, kMaxBasicLeaf, ascii4("Genu"), ascii4("ntel"), ascii4("ineI"));
    // Family 15, model 6, stepping 1: the generic "kvm64" identity, which the
    // kernel has no model-specific quirks for.
    uint32_t edx1 = kFpu | kPse | kTsc | kMsr | kPae | kCx8 | kApic | kSep | kPge | kCmov | kPat |
                    kClflush | kMmx | kFxsr | kSse | kSse2;
    uint32_t ebx1 = (8u << 8); // CLFLUSH line size 64 bytes
    if (vcpu_count > 1) {
        edx1 |= kHtt;
        ebx1 |= (vcpu_count & 0xff) << 16;
    }
    add(t, 1, 0x00000f61, ebx1, kCx16, edx1);
    add(t, 2, 0x00000001, 0, 0, 0); // no cache descriptors
    add(t, 3, 0, 0, 0, 0);
    add_indexed(t, 4, 0, 0, 0, 0, 0); // no deterministic cache parameters
    add(t, 5, 0, 0, 0, 0);
    add(t, 6, 0, 0, 0, 0);
    add_indexed(t, 7, 0, 0, 0, 0, 0); // no SMEP/SMAP/FSGSBASE/...: max subleaf 0

    add(t, 0x80000000, kMaxExtendedLeaf, 0, 0, 0);
    add(t, 0x80000001, 0, 0, 0, kSyscall | kNx | kPdpe1gb | kLm);
    // Brand string "krr virtual x86-64 CPU", NUL padded over 48 bytes.
    char brand[48] = {};
    std::strncpy(brand, "krr virtual x86-64 CPU", sizeof brand - 1);
    for (uint32_t i = 0; i < 3; ++i) {
        uint32_t r[4];
        std::memcpy(r, brand + 16 * i, 16);
        add(t, 0x80000002 + i, r[0], r[1], r[2], r[3]);
    }
    add(t, 0x80000005, 0, 0, 0, 0);
    add(t, 0x80000006, 0, 0, 0, 0);
    add(t, 0x80000007, 0, 0, 0, 0);
    add(t, 0x80000008, 0x00003028, 0, 0, 0); // 40 physical, 48 linear address bits
    return t;
}

std::optional<CpuidEntry> CpuidTable::find(uint32_t leaf, uint32_t subleaf) const {
    for (const auto& e : entries) {
        if (e.leaf == leaf && (!e.indexed || e.subleaf == subleaf)) {
            return e;
        }
    }
    return std::nullopt;
}

CpuidEntry CpuidTable::lookup(uint32_t leaf, uint32_t subleaf, uint32_t vcpu_id) const {
    uint32_t max_basic = 0, max_ext = 0;
    if (auto e = find(0, 0)) {
        max_basic = e->eax;
    }
    if (auto e = find(0x80000000, 0)) {
        max_ext = e->eax;
    }
    uint32_t effective = leaf;
    if (leaf < 0x40000000 && leaf > max_basic) {
        effective = max_basic; // Intel: out-of-range basic leaves alias the highest one
    } else if (leaf >= 0x80000000 && leaf > max_ext) {
        effective = max_basic;
    }
    CpuidEntry out{leaf, subleaf, false, 0, 0, 0, 0};
    if (auto e = find(effective, subleaf)) {
        out = *e;
        out.leaf = leaf;
        out.subleaf = subleaf;
    }
    if (effective == 1) {
        out.ebx = (out.ebx & 0x00ffffff) | (vcpu_id << 24);
    }
    return out;
}

} // namespace krr
