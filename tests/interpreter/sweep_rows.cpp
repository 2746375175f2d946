#include "tests/interpreter/sweep_rows.h"

namespace krr::testing {

using cpu::OpcodeId;

SweepPlan plan_row(const cpu::OpcodeRow& row) {
    if (row.has(cpu::row_attribute::kLegacyOnly)) {
        return {SweepTreatment::Exclude,
                "exists only outside 64-bit mode; the host oracle runs 64-bit code"};
    }
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
        return {SweepTreatment::CompareWithoutRepeat,
                "the host has BMI1/LZCNT; the masked CPU executes F3 0F BC/BD as bsf/bsr, so the "
                "host runs them without the F3"};
    default:
        return {};
    }
}

} // namespace krr::testing
