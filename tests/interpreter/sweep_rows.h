// How the instruction sweep treats each opcode-table row: compared against
// the host CPU, checked for #UD (features the masked CPU lacks), or left out
// for a stated reason. The SIMD allowlist names the rows whose mismatches are
// known and reported but do not fail the sweep, each with its reason.
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

// Non-empty when mismatches of this row are tolerated, with the reason.
std::string_view allowed_mismatch(cpu::OpcodeId id);

} // namespace krr::testing
