#include "recorder/machine/vmlinux_cache.h"

#include "guest-model/checksum.h"
#include "guest-model/elf_image.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace krr {

std::vector<uint8_t> decompressed_vmlinux(const KernelImage& kernel, const std::string& cache_dir) {
    if (cache_dir.empty()) {
        return kernel.decompress_vmlinux();
    }
    namespace fs = std::filesystem;
    const fs::path path = fs::path(cache_dir) / (content_hash_hex(kernel.bytes()) + ".vmlinux");
    {
        std::ifstream in(path, std::ios::binary);
        if (in) {
            std::vector<uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
            try {
                // A damaged cache entry is rebuilt rather than trusted.
                parse_elf_image(bytes, path.string());
                return bytes;
            } catch (const std::exception&) {
            }
        }
    }
    std::vector<uint8_t> bytes = kernel.decompress_vmlinux();
    std::error_code ec;
    fs::create_directories(cache_dir, ec);
    const fs::path temporary = path.string() + ".tmp." + std::to_string(getpid());
    {
        std::ofstream out(temporary, std::ios::binary);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        if (!out) {
            fs::remove(temporary, ec);
            return bytes;
        }
    }
    fs::rename(temporary, path, ec);
    if (ec) {
        fs::remove(temporary, ec);
    }
    return bytes;
}

} // namespace krr
