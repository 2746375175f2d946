#include "guest-model/trace/zstd_codec.h"

#include "guest-model/error.h"

#include <new>
#include <zstd.h>

namespace krr::trace {

struct ZstdCompressor::Context {
    ZSTD_CCtx* cctx = nullptr;
    ~Context() { ZSTD_freeCCtx(cctx); }
};

ZstdCompressor::ZstdCompressor(int level) : context_(std::make_unique<Context>()), level_(level) {
    context_->cctx = ZSTD_createCCtx();
    if (!context_->cctx) {
        throw std::bad_alloc();
    }
}

ZstdCompressor::~ZstdCompressor() = default;

std::vector<uint8_t> ZstdCompressor::compress(std::span<const uint8_t> data) {
    std::vector<uint8_t> out(ZSTD_compressBound(data.size()));
    size_t n =
        ZSTD_compressCCtx(context_->cctx, out.data(), out.size(), data.data(), data.size(), level_);
    if (ZSTD_isError(n)) {
        throw Error("compressing a chunk", ZSTD_getErrorName(n));
    }
    out.resize(n);
    return out;
}

size_t zstd_bound(size_t size) {
    return ZSTD_compressBound(size);
}

std::vector<uint8_t> zstd_decompress(std::span<const uint8_t> frame, size_t expected_size,
                                     const std::string& what) {
    size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
    if (ZSTD_isError(frame_size)) {
        throw Error(what, std::string("malformed zstd frame: ") + ZSTD_getErrorName(frame_size));
    }
    if (frame_size != frame.size()) {
        throw Error(what, "zstd frame is " + std::to_string(frame_size) + " bytes but the chunk " +
                              "stores " + std::to_string(frame.size()));
    }
    unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR) {
        throw Error(what, "zstd frame does not declare its content size");
    }
    if (declared != expected_size) {
        throw Error(what, "zstd frame declares " + std::to_string(declared) +
                              " bytes but the chunk header says " + std::to_string(expected_size));
    }
    std::vector<uint8_t> out(expected_size);
    size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
    if (ZSTD_isError(n)) {
        throw Error(what, std::string("zstd: ") + ZSTD_getErrorName(n));
    }
    if (n != expected_size) {
        throw Error(what, "zstd frame inflated to " + std::to_string(n) + " bytes, expected " +
                              std::to_string(expected_size));
    }
    return out;
}

} // namespace krr::trace
