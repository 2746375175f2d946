// Which console line starts a kernel crash report (oops, panic, BUG,
// KASAN, general protection fault, a WARN, a hung task): the first such
// line is the trace's crash.
#pragma once

#include <string_view>

namespace krr::activity {

bool is_crash_line(std::string_view line);

} // namespace krr::activity
