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
    std::string_view reason; // why it is excluded, why it must raise #UD, or why restricted
    // Compared with REX.W only: the other operand sizes stop the interpreter
    // as not implemented (reported in the summary with `reason`).
    bool operand_size_64_only = false;
};

SweepPlan plan_row(const cpu::OpcodeRow& row);

// Non-empty when mismatches of this row are tolerated, with the reason.
std::string_view allowed_mismatch(cpu::OpcodeId id);

} // namespace krr::testing
