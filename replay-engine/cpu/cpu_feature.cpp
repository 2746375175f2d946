#include "replay-engine/cpu/cpu_feature.h"

namespace krr::cpu {

const char* cpu_feature_name(CpuFeature feature) {
    switch (feature) {
    case CpuFeature::Base:
        return "base";
    case CpuFeature::X87:
        return "x87";
    case CpuFeature::MMX:
        return "mmx";
    case CpuFeature::SSE:
        return "sse";
    case CpuFeature::SSE2:
        return "sse2";
    case CpuFeature::SSE3:
        return "sse3";
    case CpuFeature::SSSE3:
        return "ssse3";
    case CpuFeature::SSE41:
        return "sse41";
    case CpuFeature::SSE42:
        return "sse42";
    case CpuFeature::POPCNT:
        return "popcnt";
    case CpuFeature::AES:
        return "aes";
    case CpuFeature::PCLMUL:
        return "pclmul";
    case CpuFeature::SHA:
        return "sha";
    case CpuFeature::MOVBE:
        return "movbe";
    case CpuFeature::ADX:
        return "adx";
    case CpuFeature::XSAVE:
        return "xsave";
    case CpuFeature::XSAVEOPT:
        return "xsaveopt";
    case CpuFeature::XSAVEC:
        return "xsavec";
    case CpuFeature::XSAVES:
        return "xsaves";
    case CpuFeature::RDRAND:
        return "rdrand";
    case CpuFeature::RDSEED:
        return "rdseed";
    case CpuFeature::RDTSCP:
        return "rdtscp";
    case CpuFeature::RDPID:
        return "rdpid";
    case CpuFeature::SMAP:
        return "smap";
    case CpuFeature::FSGSBASE:
        return "fsgsbase";
    case CpuFeature::CLFLUSHOPT:
        return "clflushopt";
    case CpuFeature::CLWB:
        return "clwb";
    case CpuFeature::CLZERO:
        return "clzero";
    case CpuFeature::MONITOR:
        return "monitor";
    case CpuFeature::INVPCID:
        return "invpcid";
    case CpuFeature::PKU:
        return "pku";
    case CpuFeature::SERIALIZE:
        return "serialize";
    case CpuFeature::RTM:
        return "rtm";
    case CpuFeature::VMX:
        return "vmx";
    case CpuFeature::SGX:
        return "sgx";
    case CpuFeature::WAITPKG:
        return "waitpkg";
    case CpuFeature::CET_SS:
        return "cet_ss";
    case CpuFeature::SVM:
        return "svm";
    case CpuFeature::SMX:
        return "smx";
    case CpuFeature::PRFCHW:
        return "prfchw";
    case CpuFeature::AMD3DNOW:
        return "amd3dnow";
    case CpuFeature::AVX:
        return "avx";
    case CpuFeature::AVX512:
        return "avx512";
    }
    return "unknown";
}

} // namespace krr::cpu
