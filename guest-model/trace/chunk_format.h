// The byte layout shared by every file of a trace (metadata, snapshot, log,
// index): a file header, then chunks, each a checksummed header followed by a
// zstd-compressed payload. docs/trace-format.md is the normative description;
// this header is its C++ twin.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace krr::trace {

// The version this build writes and the only one it reads. A reader refuses
// every other version: nothing on disk is guessed at.
inline constexpr uint32_t kFormatVersion = 1;

inline constexpr char kFileMagic[8] = {'K', 'R', 'R', 'T', 'R', 'A', 'C', 'E'};
// "CHNK" read as a little-endian u32: a resynchronisation aid when dumping.
inline constexpr uint32_t kChunkMagic = 0x4b4e4843;

inline constexpr size_t kFileHeaderSize = 20;
inline constexpr size_t kChunkHeaderSize = 36;

// No chunk may inflate beyond this; a header claiming more is refused before
// anything is allocated.
inline constexpr uint32_t kMaxUncompressedChunk = 64u << 20;

enum class FileKind : uint32_t {
    Metadata = 1,
    Snapshot = 2,
    Log = 3,
    Index = 4,
};

enum class ChunkType : uint32_t {
    Metadata = 1,
    Memory = 16,
    CpuState = 17,
    DeviceState = 18,
    SnapshotEnd = 19,
    LogRecords = 32,
    RecordEnd = 33,
    // 48..63 are reserved for the index.
};

std::string file_kind_name(uint32_t kind);
// "memory", "log-records", ... or "type N" for an unknown type.
std::string chunk_type_name(uint32_t type);
// Whether version 1 defines `type` at all (whatever the file kind).
bool is_known_chunk_type(uint32_t type);
// Whether a known `type` may appear in a file of `kind`.
bool chunk_type_belongs_to(uint32_t type, FileKind kind);

struct FileHeader {
    uint32_t format_version = kFormatVersion;
    uint32_t file_kind = 0;
};

struct ChunkHeader {
    uint32_t type = 0;
    uint64_t sequence = 0;
    uint32_t stored_length = 0;
    uint32_t uncompressed_length = 0;
    uint64_t payload_checksum = 0;
};

// Encoders fill in the magic and header checksum.
void encode_file_header(const FileHeader& header, std::span<uint8_t, kFileHeaderSize> out);
void encode_chunk_header(const ChunkHeader& header, std::span<uint8_t, kChunkHeaderSize> out);

// Decoders validate magic and header checksum and return why not on failure;
// they do not judge the version or the lengths (the file reader does, with
// the context to name the file and offset).
struct FileHeaderResult {
    std::optional<FileHeader> header;
    std::string problem;
};
FileHeaderResult decode_file_header(std::span<const uint8_t, kFileHeaderSize> in);

struct ChunkHeaderResult {
    std::optional<ChunkHeader> header;
    std::string problem;
};
ChunkHeaderResult decode_chunk_header(std::span<const uint8_t, kChunkHeaderSize> in);

// The checksum every header carries over its preceding bytes.
uint32_t header_checksum(std::span<const uint8_t> bytes);

} // namespace krr::trace
