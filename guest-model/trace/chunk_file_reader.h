// Reads the chunks of one trace file without trusting a byte of it. The file
// header's magic, checksum, version and kind are checked on open; every chunk
// header's checksum is checked before any length in it is believed; lengths
// are capped and checked against the file's size and the zstd frame.
//
// The end of a file is one of: clean (the last chunk ends exactly at the end
// of the file), truncated (a chunk or the file header is cut short, as a
// killed writer leaves it), or corrupt (anything else: next() throws
// krr::Error naming the file, chunk number and byte offset).
#pragma once

#include "guest-model/trace/chunk_format.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace krr::trace {

struct Chunk {
    uint32_t type = 0;
    uint64_t sequence = 0; // = its position in the file, counting from 0
    uint64_t offset = 0;   // of the chunk header
    uint32_t stored_length = 0;
    std::vector<uint8_t> payload; // uncompressed
};

class ChunkFileReader {
public:
    // Opens `path`, expecting a file of `kind`. Throws krr::Error when the
    // file is missing, is not a trace file, has another version or kind, or
    // its header is damaged. A file cut off inside its header opens as a
    // truncated file with no chunks.
    ChunkFileReader(std::string path, FileKind kind);
    // The same over bytes already in memory; `name` stands in for the path.
    ChunkFileReader(std::string name, std::vector<uint8_t> contents, FileKind kind);
    ~ChunkFileReader();
    ChunkFileReader(const ChunkFileReader&) = delete;
    ChunkFileReader& operator=(const ChunkFileReader&) = delete;
    ChunkFileReader(ChunkFileReader&& other) noexcept;
    ChunkFileReader& operator=(ChunkFileReader&&) = delete;

    // The next chunk of a type this version knows; nullopt at the end of the
    // file (see truncated()). Chunks of unknown types are checksummed,
    // skipped and noted. Throws krr::Error on corruption.
    std::optional<Chunk> next();

    bool at_end() const { return ended_; }
    bool truncated() const { return truncated_; }
    // Where the complete part of the file ends (the cut-off chunk's offset).
    uint64_t complete_bytes() const { return offset_; }
    uint64_t file_size() const { return size_; }
    // Complete chunks read so far, skipped ones included.
    uint64_t complete_chunks() const { return sequence_; }
    const std::vector<std::string>& notes() const { return notes_; }
    const std::string& path() const { return path_; }

private:
    void open_header(FileKind kind);
    std::vector<uint8_t> read_at(uint64_t offset, size_t length) const;
    bool rest_is_zero(uint64_t from) const;
    [[noreturn]] void corrupt(uint64_t at, const std::string& why) const;
    void mark_truncated();

    std::string path_;
    int fd_ = -1;
    std::vector<uint8_t> contents_; // when reading from memory
    FileKind kind_ = FileKind::Metadata;
    uint64_t size_ = 0;
    uint64_t offset_ = 0;
    uint64_t sequence_ = 0;
    bool ended_ = false;
    bool truncated_ = false;
    std::vector<std::string> notes_;
};

} // namespace krr::trace
