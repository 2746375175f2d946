#include "activity/crash_line.h"

#include <algorithm>
#include <iterator>

namespace krr::activity {

bool is_crash_line(std::string_view line) {
    // The report's first line starts right after the printk timestamp.
    if (line.starts_with("[")) {
        size_t close = line.find("] ");
        if (close != std::string_view::npos) {
            line.remove_prefix(close + 2);
        }
    }
    // Oopses, panics, SLUB and KASAN reports, WARN()s (refcount_t's among
    // them) and hung-task reports: what the bug samples end with.
    static constexpr std::string_view kStarts[] = {
        "BUG: ",
        "BUG ", // SLUB: "BUG kmalloc-64 (...): Right Redzone overwritten"
        "Oops",
        "Kernel panic - not syncing",
        "general protection fault",
        "kernel BUG at",
        "KASAN: ",
        "UBSAN: ",
        "Unable to handle kernel",
        "WARNING: CPU: ",
        "refcount_t: ",
        "INFO: task ",
        "watchdog: BUG: ",
    };
    return std::any_of(std::begin(kStarts), std::end(kStarts),
                       [&](std::string_view m) { return line.starts_with(m); });
}

} // namespace krr::activity
