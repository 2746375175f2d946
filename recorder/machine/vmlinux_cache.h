// The decompressed vmlinux of a bzImage, kept in a cache directory keyed by
// the bzImage's content hash: decompressing the Debian kernel's XZ payload
// takes over a second, a cache hit a few milliseconds.
#pragma once

#include "guest-model/kernel_image.h"

#include <cstdint>
#include <string>
#include <vector>

namespace krr {

// `cache_dir` empty: decompress without caching. A cache that cannot be
// written is not an error (the result is still returned).
std::vector<uint8_t> decompressed_vmlinux(const KernelImage& kernel, const std::string& cache_dir);

} // namespace krr
