// The kernel krr repro boots (--kernel default|syzbot|NAME|PATH) and what
// comes with it: the kind of reports it prints (from its config: KASAN means
// a syzbot-grade kernel), the tree kmod/ is built against, the vmlinux and
// gdb helpers for debugging, and the command-line additions its kind needs.
#pragma once

#include "repro/bug_sample.h"

#include <optional>
#include <string>

namespace krr {

struct ReproKernel {
    std::string vmlinuz;
    ReportKind kind = ReportKind::Default;
    std::string module_build; // kbuild tree for kmod/ (empty: none beside the kernel)
    std::string vmlinux;      // beside the kernel, else empty
    std::string gdbinit;      // the kernel's gdb helpers (krr kernel build writes one), else empty
    // Always on this kind's command line: a syzbot-grade kernel panics on
    // warnings, as syzbot runs it, so KASAN and lockdep reports end the run.
    std::string cmdline;
};

// `name`: unset or "default" (the cache's default kernel), a profile that
// `krr kernel build` installs ("syzbot", "debug"), or a bzImage path.
// Throws krr::Error("repro: --kernel NAME", "<why>; how to get it").
ReproKernel resolve_repro_kernel(const std::optional<std::string>& name);

// Whether a kernel .config's text enables KASAN.
bool config_has_kasan(const std::string& config_text);

} // namespace krr
