// Checksums and content hashes. XXH3 (Debian's libxxhash) is the one hash krr
// uses on disk: fast enough to checksum every chunk and hash guest memory.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace krr {

uint64_t checksum64(std::span<const uint8_t> data, uint64_t seed = 0);
// 128-bit content hash as 32 lowercase hex digits (kernel identity).
std::string content_hash_hex(std::span<const uint8_t> data);

} // namespace krr
