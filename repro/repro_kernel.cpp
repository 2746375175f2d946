#include "repro/repro_kernel.h"

#include "guest-model/error.h"
#include "recorder/guest-image/guest_locator.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace krr {

namespace fs = std::filesystem;

namespace {

// Profiles `krr kernel build` makes (kernel/build-kernel).
bool is_buildable_profile(const std::string& name) {
    return name == "syzbot" || name == "debug";
}

bool is_bare_name(const std::string& s) {
    return !s.empty() && s.find('/') == std::string::npos && s != "." && s != "..";
}

std::string existing(const fs::path& path) {
    std::error_code ec;
    return fs::exists(path, ec) ? path.string() : std::string();
}

std::string kernel_path(const std::optional<std::string>& name) {
    if (!name || *name == "default") {
        return locate_kernel(std::nullopt);
    }
    const std::string what = "repro: --kernel " + *name;
    std::error_code ec;
    if (is_bare_name(*name) && !fs::exists(*name, ec)) {
        const fs::path cached = fs::path(guest_cache_dir()) / "kernels" / *name / "vmlinuz";
        if (fs::is_regular_file(cached, ec)) {
            return cached.string();
        }
        if (is_buildable_profile(*name)) {
            throw Error(what,
                        "not built yet (no " + cached.string() + "); build it with " +
                            (*name == "syzbot" ? "'./scripts/setup --syzbot-kernel' or " : "") +
                            "'krr kernel build --profile " + *name +
                            "' (about 16 minutes on two cores, once)");
        }
        throw Error(what, "not a kernel profile (default, syzbot, debug) nor a file");
    }
    if (!fs::is_regular_file(*name, ec)) {
        throw Error(what, fs::exists(*name, ec) ? "not a regular file" : "no such file");
    }
    return *name;
}

} // namespace

bool config_has_kasan(const std::string& config_text) {
    std::istringstream in(config_text);
    std::string line;
    while (std::getline(in, line)) {
        if (line == "CONFIG_KASAN=y") {
            return true;
        }
    }
    return false;
}

ReproKernel resolve_repro_kernel(const std::optional<std::string>& name) {
    ReproKernel k;
    k.vmlinuz = kernel_path(name);
    const fs::path dir = fs::path(k.vmlinuz).parent_path();
    // krr's cache keeps each kernel's .config beside it (Debian's as well).
    std::ifstream config(dir / "config");
    if (config) {
        std::ostringstream text;
        text << config.rdbuf();
        if (config_has_kasan(text.str())) {
            k.kind = ReportKind::Syzbot;
            k.cmdline = "panic_on_warn=1";
        }
    }
    std::error_code ec;
    if (fs::is_regular_file(dir / "build" / "Makefile", ec)) {
        k.module_build = (dir / "build").string();
    }
    k.vmlinux = existing(dir / "vmlinux");
    k.gdbinit = existing(dir / "gdbinit");
    return k;
}

} // namespace krr
