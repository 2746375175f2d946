#include "guest-model/trace/chunk_file_writer.h"

#include "guest-model/checksum.h"
#include "guest-model/error.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace krr::trace {

ChunkFileWriter::ChunkFileWriter(std::string path, FileKind kind) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        throw Error("creating " + path_, errno_text(errno));
    }
    uint8_t header[kFileHeaderSize];
    encode_file_header({kFormatVersion, static_cast<uint32_t>(kind)}, header);
    write_all(header);
}

ChunkFileWriter::~ChunkFileWriter() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void ChunkFileWriter::append(ChunkType type, std::span<const uint8_t> payload) {
    if (fd_ < 0) {
        throw Error("writing " + path_, "file already closed");
    }
    if (payload.size() > kMaxUncompressedChunk) {
        throw Error("writing " + path_, "chunk of " + std::to_string(payload.size()) +
                                            " bytes exceeds the limit of " +
                                            std::to_string(kMaxUncompressedChunk));
    }
    std::vector<uint8_t> stored = compressor_.compress(payload);
    ChunkHeader h;
    h.type = static_cast<uint32_t>(type);
    h.sequence = sequence_;
    h.stored_length = static_cast<uint32_t>(stored.size());
    h.uncompressed_length = static_cast<uint32_t>(payload.size());
    h.payload_checksum = checksum64(stored);
    std::vector<uint8_t> out(kChunkHeaderSize + stored.size());
    encode_chunk_header(h, std::span<uint8_t, kChunkHeaderSize>(out.data(), kChunkHeaderSize));
    std::copy(stored.begin(), stored.end(), out.begin() + kChunkHeaderSize);
    write_all(out);
    ++sequence_;
}

void ChunkFileWriter::write_all(std::span<const uint8_t> bytes) {
    // A regular file takes the whole write at once unless the disk is full;
    // loop anyway so a short write is finished or reported, never dropped.
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw Error("writing " + path_, errno_text(errno));
        }
        done += static_cast<size_t>(n);
    }
    offset_ += bytes.size();
}

void ChunkFileWriter::close() {
    if (fd_ < 0) {
        return;
    }
    int fd = fd_;
    fd_ = -1;
    if (::fsync(fd) != 0) {
        int err = errno;
        ::close(fd);
        throw Error("syncing " + path_, errno_text(err));
    }
    if (::close(fd) != 0) {
        throw Error("closing " + path_, errno_text(errno));
    }
}

} // namespace krr::trace
