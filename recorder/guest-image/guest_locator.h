// Where the guest's parts come from: the kernel, busybox and kernel modules.
// By default they are the ones ./scripts/setup unpacked into the cache
// (docs/guest.md describes its layout); a user can name others. A part that
// is missing or unreadable is a one-line error saying how to get it.
#pragma once

#include <optional>
#include <string>

namespace krr {

// $KRR_CACHE, else $HOME/.cache/krr.
std::string guest_cache_dir();

// The bzImage to boot: `explicit_path` if given (a file, or else a bare name
// such as "syzbot" for $cache/kernels/NAME/vmlinuz), else the cache's default
// kernel. Throws krr::Error("kernel: <path>", "<why>[; run ./scripts/setup ...]").
std::string locate_kernel(const std::optional<std::string>& explicit_path);

// The static busybox for the initramfs: $KRR_BUSYBOX if set, else the cache's.
std::string locate_busybox();

// A kernel module by path (anything containing '/' or ending in .ko) or by
// name ("ext4", "nf_tables"; '-' and '_' are interchangeable as in modprobe),
// searched in the modules tree unpacked beside `kernel_path`.
std::string locate_module(const std::string& name_or_path, const std::string& kernel_path);

} // namespace krr
