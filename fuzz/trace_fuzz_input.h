// How a fuzz input becomes a trace directory. Shared by the fuzzer and the
// seed writer so the seeds speak the fuzzer's language.
//
// Byte 0 picks a mode:
//   0  raw:        the rest is metadata, snapshot and log file contents, each
//                  of the first two prefixed by a u16 length;
//   1  raw+sealed: as raw, then every chunk header and payload checksum that
//                  can be located is recomputed, so mutations reach the
//                  decoders behind the checksums (XXH3 is no security
//                  boundary: a hostile trace can carry correct checksums);
//   2  chunks:     the rest is a list of (u8 file, u32 chunk type, u16
//                  length, payload) written through ChunkFileWriter, so
//                  payloads arrive compressed and checksummed.
#pragma once

#include "guest-model/byte_codec.h"

#include <cstdint>
#include <string>
#include <vector>

namespace krr::fuzz {

enum Mode : uint8_t { kRaw = 0, kRawSealed = 1, kChunks = 2 };

struct FuzzChunk {
    uint8_t file = 0; // 0 metadata, 1 snapshot, 2 log
    uint32_t type = 0;
    std::vector<uint8_t> payload;
};

inline std::vector<uint8_t> encode_chunks_input(const std::vector<FuzzChunk>& chunks) {
    ByteWriter w;
    w.u8(kChunks);
    for (const auto& c : chunks) {
        w.u8(c.file);
        w.u32(c.type);
        w.u16(static_cast<uint16_t>(c.payload.size()));
        w.bytes(c.payload);
    }
    return w.take();
}

inline std::vector<uint8_t> encode_raw_input(Mode mode, const std::vector<uint8_t>& metadata,
                                             const std::vector<uint8_t>& snapshot,
                                             const std::vector<uint8_t>& log) {
    ByteWriter w;
    w.u8(mode);
    w.u16(static_cast<uint16_t>(metadata.size()));
    w.bytes(metadata);
    w.u16(static_cast<uint16_t>(snapshot.size()));
    w.bytes(snapshot);
    w.bytes(log);
    return w.take();
}

} // namespace krr::fuzz
