// A point in a replayed run, between two transitions. The instruction count
// alone is not enough: several things happen without an instruction
// retiring — asynchronous inputs (interrupts, NMIs, clock skips) applied at
// one count, and exceptions delivered when an instruction faults (a faulting
// instruction does not retire). So a position is the count, the number of
// logged inputs consumed, and the exceptions delivered since the count was
// reached. Positions compare in time order.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace krr {

struct TimelinePosition {
    uint64_t instructions = 0;
    uint64_t inputs = 0;     // logged inputs consumed (synchronous ones included)
    uint32_t deliveries = 0; // exceptions delivered since `instructions` was reached

    auto operator<=>(const TimelinePosition&) const = default;
    bool operator==(const TimelinePosition&) const = default;

    // In a seek target: apply every asynchronous input logged at the count.
    static constexpr uint64_t kAllInputs = ~0ULL;
};

std::string to_string(const TimelinePosition& position);

} // namespace krr
