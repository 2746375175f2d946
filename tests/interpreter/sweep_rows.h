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
enum class SweepTreatment { Compare, ExpectInvalidOpcode, Exclude, CompareWithoutRepeat };

struct SweepPlan {
    SweepTreatment treatment = SweepTreatment::Compare;
    std::string_view reason; // why it is excluded, or why it must raise #UD
};

SweepPlan plan_row(const cpu::OpcodeRow& row);

} // namespace krr::testing
