// How the instruction sweep treats each opcode-table row: compared against
// the host CPU, checked for #UD (features the masked CPU lacks), or left out
// for a stated reason.
#pragma once

#include "replay-engine/cpu/opcode_table.h"

#include <string_view>

namespace krr::testing {

enum class SweepTreatment { Compare, ExpectInvalidOpcode, Exclude };

struct SweepPlan {
    SweepTreatment treatment = SweepTreatment::Compare;
    std::string_view reason; // why it is excluded, or why it must raise #UD
};

SweepPlan plan_row(const cpu::OpcodeRow& row);

} // namespace krr::testing
