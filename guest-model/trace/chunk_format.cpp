#include "guest-model/trace/chunk_format.h"

#include "guest-model/byte_codec.h"
#include "guest-model/checksum.h"

#include <algorithm>
#include <cstring>

namespace krr::trace {

namespace {

// Distinct seeds keep a header checksum from ever matching a payload
// checksum of the same bytes.
constexpr uint64_t kHeaderChecksumSeed = 0x6b72722d68647221ULL;

void copy_out(const ByteWriter& w, std::span<uint8_t> out) {
    std::copy(w.data().begin(), w.data().end(), out.begin());
}

} // namespace

uint32_t header_checksum(std::span<const uint8_t> bytes) {
    return static_cast<uint32_t>(checksum64(bytes, kHeaderChecksumSeed));
}

std::string file_kind_name(uint32_t kind) {
    switch (static_cast<FileKind>(kind)) {
    case FileKind::Metadata:
        return "metadata";
    case FileKind::Snapshot:
        return "snapshot";
    case FileKind::Log:
        return "log";
    case FileKind::Index:
        return "index";
    }
    return "kind " + std::to_string(kind);
}

std::string chunk_type_name(uint32_t type) {
    switch (static_cast<ChunkType>(type)) {
    case ChunkType::Metadata:
        return "metadata";
    case ChunkType::Memory:
        return "memory";
    case ChunkType::CpuState:
        return "cpu-state";
    case ChunkType::DeviceState:
        return "device-state";
    case ChunkType::SnapshotEnd:
        return "snapshot-end";
    case ChunkType::LogRecords:
        return "log-records";
    case ChunkType::RecordEnd:
        return "record-end";
    }
    return "type " + std::to_string(type);
}

bool is_known_chunk_type(uint32_t type) {
    return chunk_type_name(type).rfind("type ", 0) != 0;
}

bool chunk_type_belongs_to(uint32_t type, FileKind kind) {
    switch (static_cast<ChunkType>(type)) {
    case ChunkType::Metadata:
        return kind == FileKind::Metadata;
    case ChunkType::Memory:
    case ChunkType::CpuState:
    case ChunkType::DeviceState:
    case ChunkType::SnapshotEnd:
        return kind == FileKind::Snapshot;
    case ChunkType::LogRecords:
    case ChunkType::RecordEnd:
        return kind == FileKind::Log;
    }
    return false;
}

void encode_file_header(const FileHeader& header, std::span<uint8_t, kFileHeaderSize> out) {
    ByteWriter w;
    w.bytes(std::span(reinterpret_cast<const uint8_t*>(kFileMagic), sizeof kFileMagic));
    w.u32(header.format_version);
    w.u32(header.file_kind);
    w.u32(header_checksum(w.data()));
    copy_out(w, out);
}

void encode_chunk_header(const ChunkHeader& header, std::span<uint8_t, kChunkHeaderSize> out) {
    ByteWriter w;
    w.u32(kChunkMagic);
    w.u32(header.type);
    w.u64(header.sequence);
    w.u32(header.stored_length);
    w.u32(header.uncompressed_length);
    w.u64(header.payload_checksum);
    w.u32(header_checksum(w.data()));
    copy_out(w, out);
}

FileHeaderResult decode_file_header(std::span<const uint8_t, kFileHeaderSize> in) {
    if (std::memcmp(in.data(), kFileMagic, sizeof kFileMagic) != 0) {
        return {std::nullopt, "not a krr trace file (bad magic)"};
    }
    ByteReader r(in, "file header");
    r.bytes(sizeof kFileMagic);
    FileHeader h;
    h.format_version = r.u32();
    h.file_kind = r.u32();
    uint32_t stored = r.u32();
    if (stored != header_checksum(in.first(kFileHeaderSize - 4))) {
        return {std::nullopt, "file header checksum mismatch"};
    }
    return {h, ""};
}

ChunkHeaderResult decode_chunk_header(std::span<const uint8_t, kChunkHeaderSize> in) {
    ByteReader r(in, "chunk header");
    if (r.u32() != kChunkMagic) {
        return {std::nullopt, "bad chunk magic"};
    }
    ChunkHeader h;
    h.type = r.u32();
    h.sequence = r.u64();
    h.stored_length = r.u32();
    h.uncompressed_length = r.u32();
    h.payload_checksum = r.u64();
    uint32_t stored = r.u32();
    if (stored != header_checksum(in.first(kChunkHeaderSize - 4))) {
        return {std::nullopt, "chunk header checksum mismatch"};
    }
    return {h, ""};
}

} // namespace krr::trace
