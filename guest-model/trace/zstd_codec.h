// zstd compression of chunk payloads. Decompression is told the exact size to
// expect and refuses frames that declare anything else, so a hostile frame
// cannot make the reader allocate or write more than the chunk header allows.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace krr::trace {

class ZstdCompressor {
public:
    explicit ZstdCompressor(int level = 3);
    ~ZstdCompressor();
    ZstdCompressor(const ZstdCompressor&) = delete;
    ZstdCompressor& operator=(const ZstdCompressor&) = delete;

    // One frame with the content size recorded in its header.
    std::vector<uint8_t> compress(std::span<const uint8_t> data);

private:
    struct Context;
    std::unique_ptr<Context> context_;
    int level_;
};

// Throws krr::Error("<what>", why) unless `frame` is exactly one well-formed
// frame declaring and producing `expected_size` bytes.
std::vector<uint8_t> zstd_decompress(std::span<const uint8_t> frame, size_t expected_size,
                                     const std::string& what);

// The largest frame zstd can produce for `size` input bytes.
size_t zstd_bound(size_t size);

} // namespace krr::trace
