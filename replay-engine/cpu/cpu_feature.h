// The CPU features an instruction belongs to, and which of them the
// feature-masked vCPU (see guest-model/cpuid_table.h) has. The decoder knows
// every instruction the Debian kernel and busybox contain, including those
// they only run behind a CPUID check; the masked CPU executes only its own.
#pragma once

#include <cstdint>

namespace krr::cpu {

enum class CpuFeature : uint8_t {
    Base, // baseline x86-64: the integer and system instructions every CPU has
    X87,
    MMX,
    SSE,
    SSE2,
    SSE3,
    SSSE3,
    SSE41,
    SSE42,
    POPCNT,
    AES,
    PCLMUL,
    SHA,
    MOVBE,
    ADX,
    XSAVE,
    XSAVEOPT,
    XSAVEC,
    XSAVES,
    RDRAND,
    RDSEED,
    RDTSCP,
    RDPID,
    SMAP,
    FSGSBASE,
    CLFLUSHOPT,
    CLWB,
    CLZERO,
    MONITOR,
    INVPCID,
    PKU,
    SERIALIZE,
    RTM,
    VMX,
    SGX,
    WAITPKG,
    CET_SS, // shadow stacks
    PTWRITE,
    SSE4A,
    PCONFIG,
    MOVDIRI,
    ENQCMD,
    GFNI,
    SVM,
    SMX,
    PRFCHW,
    AMD3DNOW,
    AVX,
    AVX512,
};

// True when the masked CPU executes instructions of `feature`; the others
// raise #UD there, as they would on a real CPU without the feature.
// PRFCHW is counted as present: 0F 0D is a prefetch hint, which a CPU
// without the feature executes as a NOP rather than faulting.
constexpr bool masked_cpu_supports(CpuFeature feature) {
    switch (feature) {
    case CpuFeature::Base:
    case CpuFeature::X87:
    case CpuFeature::MMX:
    case CpuFeature::SSE:
    case CpuFeature::SSE2:
    case CpuFeature::PRFCHW:
        return true;
    default:
        return false;
    }
}

const char* cpu_feature_name(CpuFeature feature);

} // namespace krr::cpu
