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
    case OpcodeId::SYSCALL:
        return {SweepTreatment::CompareSystemCall,
                "the host's kernel answers the system call (an invalid number)"};
    case OpcodeId::SYSENTER:
        return {SweepTreatment::CompareSystemCallEntry,
                "the host's kernel is entered; Linux returns from a 64-bit SYSENTER to a 32-bit "
                "landing pad, so the state is taken at the entry and the call skipped"};
    case OpcodeId::CPUID:
    case OpcodeId::RDTSC:
        return {SweepTreatment::CompareEnvironmentRead,
                "reads the machine's CPUID table or clock, not the host's"};
    case OpcodeId::SGDT_Ms:
    case OpcodeId::SIDT_Ms:
    case OpcodeId::SLDT_Ev:
    case OpcodeId::STR_Ev:
    case OpcodeId::SMSW_Ev:
        return {SweepTreatment::Exclude,
                "no oracle: the host's CR4.UMIP makes them fault at CPL 3, and Linux (natively) "
                "or KVM's instruction emulator (PVM) answers in software"};
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
