#include "guest-model/trace/chunk_file_reader.h"

#include "guest-model/checksum.h"
#include "guest-model/error.h"
#include "guest-model/trace/zstd_codec.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace krr::trace {

ChunkFileReader::ChunkFileReader(std::string path, FileKind kind) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
        throw Error(path_, errno_text(errno));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
        int err = errno;
        ::close(fd_);
        throw Error(path_, errno_text(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd_);
        throw Error(path_, "not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    try {
        open_header(kind);
    } catch (...) {
        ::close(fd_);
        throw;
    }
}

ChunkFileReader::ChunkFileReader(std::string name, std::vector<uint8_t> contents, FileKind kind)
    : path_(std::move(name)), contents_(std::move(contents)) {
    size_ = contents_.size();
    open_header(kind);
}

ChunkFileReader::ChunkFileReader(ChunkFileReader&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)),
      contents_(std::move(other.contents_)), kind_(other.kind_), size_(other.size_),
      offset_(other.offset_), sequence_(other.sequence_), ended_(other.ended_),
      truncated_(other.truncated_), notes_(std::move(other.notes_)) {}

ChunkFileReader::~ChunkFileReader() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

std::vector<uint8_t> ChunkFileReader::read_at(uint64_t offset, size_t length) const {
    // Callers have checked offset + length <= size_.
    std::vector<uint8_t> out(length);
    if (fd_ < 0) {
        std::copy_n(contents_.begin() + static_cast<ptrdiff_t>(offset), length, out.begin());
        return out;
    }
    size_t done = 0;
    while (done < length) {
        ssize_t n =
            ::pread(fd_, out.data() + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw Error(path_, "reading at byte " + std::to_string(offset + done) + ": " +
                                   errno_text(errno));
        }
        if (n == 0) {
            throw Error(path_, "file shrank while being read");
        }
        done += static_cast<size_t>(n);
    }
    return out;
}

void ChunkFileReader::open_header(FileKind kind) {
    std::vector<uint8_t> head =
        read_at(0, static_cast<size_t>(std::min<uint64_t>(size_, kFileHeaderSize)));
    size_t magic_seen = std::min(head.size(), sizeof kFileMagic);
    if (!std::equal(head.begin(), head.begin() + static_cast<ptrdiff_t>(magic_seen), kFileMagic,
                    [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); })) {
        throw Error(path_, "not a krr trace file (bad magic)");
    }
    if (head.size() < kFileHeaderSize) {
        // The writer died before its first write completed.
        offset_ = 0;
        mark_truncated();
        return;
    }
    auto decoded =
        decode_file_header(std::span<const uint8_t, kFileHeaderSize>(head.data(), kFileHeaderSize));
    if (!decoded.header) {
        throw Error(path_, decoded.problem);
    }
    if (decoded.header->format_version != kFormatVersion) {
        throw Error(path_, "trace format version " +
                               std::to_string(decoded.header->format_version) +
                               " is not supported (this krr reads version " +
                               std::to_string(kFormatVersion) + ")");
    }
    if (decoded.header->file_kind != static_cast<uint32_t>(kind)) {
        throw Error(path_, "is a " + file_kind_name(decoded.header->file_kind) +
                               " file, expected a " + file_kind_name(static_cast<uint32_t>(kind)) +
                               " file");
    }
    offset_ = kFileHeaderSize;
    kind_ = kind;
}

void ChunkFileReader::corrupt(uint64_t at, const std::string& why) const {
    throw Error(path_ + ": chunk " + std::to_string(sequence_) + " at byte " + std::to_string(at),
                why);
}

void ChunkFileReader::mark_truncated() {
    ended_ = true;
    truncated_ = true;
}

bool ChunkFileReader::rest_is_zero(uint64_t from) const {
    constexpr size_t kBlock = 64 * 1024;
    for (uint64_t at = from; at < size_;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, size_ - at));
        auto block = read_at(at, n);
        if (std::any_of(block.begin(), block.end(), [](uint8_t b) { return b != 0; })) {
            return false;
        }
        at += n;
    }
    return true;
}

std::optional<Chunk> ChunkFileReader::next() {
    while (!ended_) {
        const uint64_t at = offset_;
        const uint64_t left = size_ - at;
        if (left == 0) {
            ended_ = true;
            return std::nullopt;
        }
        if (left < kChunkHeaderSize) {
            mark_truncated();
            return std::nullopt;
        }
        auto raw = read_at(at, kChunkHeaderSize);
        auto decoded = decode_chunk_header(
            std::span<const uint8_t, kChunkHeaderSize>(raw.data(), kChunkHeaderSize));
        if (!decoded.header) {
            // A crash after the file grew but before its data reached the disk
            // leaves zeros, not a damaged chunk: that is a truncation.
            if (rest_is_zero(at)) {
                mark_truncated();
                return std::nullopt;
            }
            corrupt(at, decoded.problem);
        }
        const ChunkHeader& h = *decoded.header;
        if (h.sequence != sequence_) {
            corrupt(at, "sequence number " + std::to_string(h.sequence) + ", expected " +
                            std::to_string(sequence_));
        }
        if (h.uncompressed_length > kMaxUncompressedChunk) {
            corrupt(at, "uncompressed length " + std::to_string(h.uncompressed_length) +
                            " exceeds the limit of " + std::to_string(kMaxUncompressedChunk));
        }
        if (h.stored_length > zstd_bound(h.uncompressed_length)) {
            corrupt(at, "stored length " + std::to_string(h.stored_length) + " is impossible for " +
                            std::to_string(h.uncompressed_length) + " uncompressed bytes");
        }
        const bool known = is_known_chunk_type(h.type);
        if (known && !chunk_type_belongs_to(h.type, kind_)) {
            corrupt(at, chunk_type_name(h.type) + " chunk in a " +
                            file_kind_name(static_cast<uint32_t>(kind_)) + " file");
        }
        if (left - kChunkHeaderSize < h.stored_length) {
            mark_truncated();
            return std::nullopt;
        }
        auto stored = read_at(at + kChunkHeaderSize, h.stored_length);
        if (checksum64(stored) != h.payload_checksum) {
            corrupt(at, "payload checksum mismatch");
        }
        offset_ = at + kChunkHeaderSize + h.stored_length;
        ++sequence_;
        if (!known) {
            notes_.push_back("skipped chunk " + std::to_string(h.sequence) + " of unknown " +
                             chunk_type_name(h.type) + " at byte " + std::to_string(at));
            continue;
        }
        Chunk c;
        c.type = h.type;
        c.sequence = h.sequence;
        c.offset = at;
        c.stored_length = h.stored_length;
        try {
            c.payload = zstd_decompress(stored, h.uncompressed_length, "payload");
        } catch (const Error& e) {
            // Report against this chunk, not the next one.
            --sequence_;
            offset_ = at;
            corrupt(at, e.what());
        }
        return c;
    }
    return std::nullopt;
}

} // namespace krr::trace
