#include "guest-model/cpuid_table.h"

#include <cstring>
#include <doctest/doctest.h>
#include <string>

TEST_CASE("default CPUID announces the masked baseline and nothing else") {
    auto t = krr::default_cpuid_table();
    auto l0 = t.lookup(0, 0);
    char vendor[13] = {};
    std::memcpy(vendor, &l0.ebx, 4);
    std::memcpy(vendor + 4, &l0.edx, 4);
    std::memcpy(vendor + 8, &l0.ecx, 4);
    CHECK(std::string(vendor) == "GenuineIntel");

    auto l1 = t.lookup(1, 0);
    CHECK((l1.edx & (1u << 26)) != 0); // SSE2
    CHECK((l1.ecx & (1u << 13)) != 0); // CX16
    CHECK((l1.ecx & (1u << 28)) == 0); // no AVX
    CHECK((l1.ecx & (1u << 26)) == 0); // no XSAVE
    CHECK((l1.ecx & (1u << 30)) == 0); // no RDRAND
    CHECK((l1.ecx & (1u << 21)) == 0); // no x2APIC
    CHECK((l1.ecx & (1u << 31)) == 0); // no hypervisor leaves to probe

    auto l7 = t.lookup(7, 0);
    CHECK(l7.ebx == 0); // no SMEP, SMAP, FSGSBASE, RDSEED

    auto e1 = t.lookup(0x80000001, 0);
    CHECK((e1.edx & (1u << 20)) != 0); // NX
    CHECK((e1.edx & (1u << 11)) != 0); // SYSCALL
    CHECK((e1.edx & (1u << 27)) == 0); // no RDTSCP
    CHECK((e1.edx & (1u << 26)) != 0); // 1 GiB pages
}

TEST_CASE("CPUID lookup fills the APIC ID and aliases out-of-range leaves") {
    auto t = krr::default_cpuid_table(4);
    CHECK((t.lookup(1, 0, 3).ebx >> 24) == 3u);
    CHECK(((t.lookup(1, 0, 0).ebx >> 16) & 0xff) == 4u);
    auto max_basic = t.lookup(0, 0).eax;
    auto beyond = t.lookup(max_basic + 5, 0);
    auto top = t.lookup(max_basic, 0);
    CHECK(beyond.eax == top.eax);
    CHECK(beyond.ebx == top.ebx);
    CHECK(t.lookup(0x40000000, 0).eax == 0); // no hypervisor signature
}
