// Appends chunks to one trace file. Each chunk leaves in a single write() of
// header and payload, so a writer killed at any moment leaves a file whose
// chunks are all complete except perhaps the last, which the reader then
// reports as a truncation.
#pragma once

#include "guest-model/trace/chunk_format.h"
#include "guest-model/trace/zstd_codec.h"

#include <cstdint>
#include <span>
#include <string>

namespace krr::trace {

class ChunkFileWriter {
public:
    // Creates `path` (which must not exist) and writes the file header.
    ChunkFileWriter(std::string path, FileKind kind);
    ~ChunkFileWriter();
    ChunkFileWriter(const ChunkFileWriter&) = delete;
    ChunkFileWriter& operator=(const ChunkFileWriter&) = delete;

    // Compresses `payload` and appends it as the next chunk.
    void append(ChunkType type, std::span<const uint8_t> payload);
    // fsync and close; further appends throw. The destructor closes without
    // syncing.
    void close();

    const std::string& path() const { return path_; }
    uint64_t chunks_written() const { return sequence_; }
    uint64_t bytes_written() const { return offset_; }

private:
    void write_all(std::span<const uint8_t> bytes);

    std::string path_;
    int fd_ = -1;
    uint64_t sequence_ = 0;
    uint64_t offset_ = 0;
    ZstdCompressor compressor_;
};

} // namespace krr::trace
