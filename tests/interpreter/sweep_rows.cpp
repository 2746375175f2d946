#include "tests/interpreter/sweep_rows.h"

namespace krr::testing {

using cpu::OpcodeId;

SweepPlan plan_row(const cpu::OpcodeRow& row) {
    if (!cpu::masked_cpu_supports(row.feature)) {
        return {SweepTreatment::ExpectInvalidOpcode, "feature not on the masked CPU"};
    }
    switch (row.id) {
    case OpcodeId::INT3:
    case OpcodeId::INT1:
    case OpcodeId::INT_Ib:
        return {SweepTreatment::Exclude, "traps into the host kernel (int 0x80, #BP, #DB)"};
    case OpcodeId::SYSCALL:
    case OpcodeId::SYSENTER:
        return {SweepTreatment::Exclude, "makes a real system call on the host"};
    case OpcodeId::CPUID:
    case OpcodeId::RDTSC:
    case OpcodeId::RDPMC:
        return {SweepTreatment::Exclude, "reads host-specific state"};
    case OpcodeId::SGDT_Ms:
    case OpcodeId::SIDT_Ms:
    case OpcodeId::SLDT_Ev:
    case OpcodeId::STR_Ev:
    case OpcodeId::SMSW_Ev:
        return {SweepTreatment::Exclude,
                "host runs with CR4.UMIP (SIGSEGV at CPL 3); the snippet machine does not"};
    case OpcodeId::TZCNT_GvEv:
    case OpcodeId::LZCNT_GvEv:
        return {SweepTreatment::Exclude,
                "host has BMI1/LZCNT; the masked CPU executes F3 0F BC/BD as bsf/bsr"};
    default:
        return {};
    }
}

// SIMD rows belong to the x87/SSE owner; their known differences are
// reported here rather than fixed in this sweep.
std::string_view allowed_mismatch(OpcodeId id) {
    switch (id) {
    case OpcodeId::FNSTENV_M:
    case OpcodeId::FNSAVE_M_DD:
    case OpcodeId::FRSTOR_M_DD:
    case OpcodeId::FLDENV_M:
        return "x87 environment with a 66 prefix: the CPU uses the 14-byte 16-bit layout, krr "
               "the 28-byte 32-bit one";
    case OpcodeId::FBSTP_Mt_DF:
    case OpcodeId::FSTP_Mt_DB:
        return "a 10-byte store that crosses into the unmapped page: the CPU has written the "
               "bytes before the boundary when #PF is taken, krr writes none";
    case OpcodeId::PUNPCKLBW_PqQq:
    case OpcodeId::PUNPCKLWD_PqQq:
    case OpcodeId::PUNPCKLDQ_PqQq:
        return "the MMX form reads 32 bits of memory; krr reads 64 and faults at the end of the "
               "window where the CPU does not";
    case OpcodeId::MOVNTQ_MqPq:
    case OpcodeId::MASKMOVQ_PqNq:
    case OpcodeId::MOVD_EyPq:
    case OpcodeId::MOVQ_QqPq:
        return "a faulting MMX store: the CPU has already switched to MMX mode (TOP=0, all tags "
               "valid) when the fault is taken; krr reports the x87 state before the instruction";
    default:
        return {};
    }
}

} // namespace krr::testing
