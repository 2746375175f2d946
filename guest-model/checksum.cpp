#include "guest-model/checksum.h"

#include <cstdio>
#include <xxhash.h>

namespace krr {

uint64_t checksum64(std::span<const uint8_t> data, uint64_t seed) {
    return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

std::string content_hash_hex(std::span<const uint8_t> data) {
    XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                  static_cast<unsigned long long>(h.low64));
    return buf;
}

} // namespace krr
