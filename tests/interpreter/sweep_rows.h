// How the instruction sweep treats each opcode-table row: compared against
// the host CPU, checked for #UD (features the masked CPU lacks), or left out
// for a stated reason.
#pragma once

#include "replay-engine/cpu/opcode_table.h"

#include <string_view>

namespace krr::testing {

// CompareWithoutRepeat: the host runs the encoding with its F2/F3 prefixes
// turned into DS overrides (which 64-bit mode ignores), i.e. what the masked
// CPU makes of it, where the host itself has a newer meaning for them.
// CompareSystemCall: the host's kernel answers an invalid system call
// number; the interpreter's state at the kernel's entry (LSTAR, or the INT
// 0x80 gate) must be what the host returns with, apart from RAX.
// CompareSystemCallEntry: as CompareSystemCall, but the host's state is
// taken where its kernel is entered (ptrace's system-call entry stop) and
// the call skipped: SYSENTER saves no return address, so only what it
// leaves alone (the general registers but RSP, the flags it keeps, memory,
// the FPU) and that it enters the kernel at all can be compared.
// CompareEnvironmentRead: the values read (CPUID's table, the TSC) are the
// machine's own, not the host's; everything else, and the zeroed upper
// halves of the registers written, must agree.
enum class SweepTreatment {
    Compare,
    ExpectInvalidOpcode,
    Exclude,
    CompareWithoutRepeat,
    CompareSystemCall,
    CompareSystemCallEntry,
    CompareEnvironmentRead,
};

struct SweepPlan {
    SweepTreatment treatment = SweepTreatment::Compare;
    std::string_view reason; // why it is excluded, or why it must raise #UD
};

SweepPlan plan_row(const cpu::OpcodeRow& row);

} // namespace krr::testing
