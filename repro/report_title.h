// A kernel report's title the way syzbot names bugs: the kind of report and
// the function to blame, taken from the report itself ("KASAN:
// use-after-free Read in session_checksum", "possible deadlock in
// unlink_entries"). The function is the first frame of the report's call
// trace that is not the detector, the allocator or the scheduler, or the
// RIP for faults, or the acquiring function for lockdep.
#pragma once

#include "repro/console_lines.h"

#include <optional>
#include <string>
#include <vector>

namespace krr {

// The title of the report whose first line is lines[from]; none when the
// report is not one of the kinds known here (KASAN, general protection
// fault, NULL pointer dereference, lockdep's circular dependency, hung task,
// refcount_t warning).
std::optional<std::string> report_title(const std::vector<ConsoleLine>& lines, size_t from);

} // namespace krr
