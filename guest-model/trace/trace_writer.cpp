#include "guest-model/trace/trace_writer.h"

#include "guest-model/error.h"
#include "guest-model/trace/trace_files.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace krr::trace {

namespace {

void sync_directory(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        throw Error("opening " + path, errno_text(errno));
    }
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) {
        throw Error("syncing " + path, errno_text(err));
    }
}

bool page_is_zero(std::span<const uint8_t> page) {
    // memcmp is the vectorised scan here; guest RAM can be gigabytes.
    static const uint8_t zero_page[kSnapshotPageSize] = {};
    return std::memcmp(page.data(), zero_page, kSnapshotPageSize) == 0;
}

} // namespace

TraceWriter::TraceWriter(std::string path, TraceMetadata metadata, size_t log_chunk_bytes)
    : path_(std::move(path)), metadata_(std::move(metadata)),
      log_chunk_bytes_(std::clamp<size_t>(log_chunk_bytes, 1, kMaxUncompressedChunk / 2)) {
    metadata_.format_version = kFormatVersion;
    validate_metadata(metadata_);
    if (::mkdir(path_.c_str(), 0755) != 0) {
        throw Error("creating trace " + path_, errno_text(errno));
    }
    // The snapshot file exists before the metadata does, so a directory
    // with metadata always has a snapshot, if perhaps an empty one.
    snapshot_ =
        std::make_unique<ChunkFileWriter>(path_ + "/" + kSnapshotFileName, FileKind::Snapshot);
    write_metadata();
    vcpu_written_.assign(metadata_.vcpu_count, false);
}

TraceWriter::~TraceWriter() {
    if (log_ && pending_.size() > 0) {
        try {
            flush();
        } catch (const Error&) {
            // Nothing to report to from a destructor; the reader will see a
            // log without an end record.
        }
    }
}

void TraceWriter::write_metadata() {
    const std::string final_path = path_ + "/" + kMetadataFileName;
    const std::string temp_path = final_path + ".tmp";
    {
        ChunkFileWriter w(temp_path, FileKind::Metadata);
        w.append(ChunkType::Metadata, encode_metadata(metadata_));
        w.close();
    }
    // The rename makes the metadata appear whole or not at all.
    if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
        throw Error("renaming " + temp_path, errno_text(errno));
    }
    sync_directory(path_);
}

void TraceWriter::need_snapshot_open(const char* what) const {
    if (!snapshot_) {
        throw Error(std::string(what) + " in " + path_, "the snapshot is already finished");
    }
}

void TraceWriter::need_log_open(const char* what) const {
    if (!log_ || closed_) {
        throw Error(std::string(what) + " in " + path_,
                    closed_ ? "the trace is closed" : "the snapshot is not finished");
    }
}

void TraceWriter::write_memory(std::span<const uint8_t> ram) {
    need_snapshot_open("writing memory");
    if (memory_written_) {
        throw Error("writing memory in " + path_, "memory was already written");
    }
    if (ram.size() > metadata_.memory_size || ram.size() % kSnapshotPageSize != 0) {
        throw Error("writing memory in " + path_,
                    std::to_string(ram.size()) +
                        " bytes is not a whole number of pages within the memory size");
    }
    memory_written_ = true;
    ByteWriter chunk;
    const uint64_t pages = ram.size() / kSnapshotPageSize;
    uint64_t page = 0;
    while (page < pages) {
        auto at = [&](uint64_t p) { return ram.subspan(p * kSnapshotPageSize, kSnapshotPageSize); };
        if (page_is_zero(at(page))) {
            ++page;
            continue;
        }
        uint64_t end = page + 1;
        const uint64_t room =
            (kMemoryChunkTarget - std::min(chunk.size(), kMemoryChunkTarget)) / kSnapshotPageSize;
        const uint64_t limit = page + std::max<uint64_t>(room, 1);
        while (end < pages && end < limit && !page_is_zero(at(end))) {
            ++end;
        }
        encode_memory_run(chunk, page,
                          ram.subspan(page * kSnapshotPageSize, (end - page) * kSnapshotPageSize));
        snapshot_totals_.pages += end - page;
        page = end;
        if (chunk.size() >= kMemoryChunkTarget) {
            snapshot_->append(ChunkType::Memory, chunk.data());
            chunk = ByteWriter();
        }
    }
    if (chunk.size() > 0) {
        snapshot_->append(ChunkType::Memory, chunk.data());
    }
}

void TraceWriter::write_vcpu(const VcpuState& state) {
    need_snapshot_open("writing a vCPU");
    if (state.id >= metadata_.vcpu_count || vcpu_written_[state.id]) {
        throw Error("writing vCPU " + std::to_string(state.id) + " in " + path_,
                    state.id >= metadata_.vcpu_count ? "no such vCPU in the metadata"
                                                     : "written twice");
    }
    vcpu_written_[state.id] = true;
    snapshot_->append(ChunkType::CpuState, encode_vcpu_state(state));
    ++snapshot_totals_.vcpus;
}

void TraceWriter::write_device(const DeviceState& device) {
    need_snapshot_open("writing a device");
    if (device.data.size() > kMaxDeviceStateBytes || device.name.size() > 256) {
        throw Error("writing device " + device.name + " in " + path_, "state too large");
    }
    snapshot_->append(ChunkType::DeviceState, encode_device_state(device));
    ++snapshot_totals_.devices;
}

void TraceWriter::finish_snapshot() {
    need_snapshot_open("finishing the snapshot");
    if (snapshot_totals_.vcpus != metadata_.vcpu_count) {
        throw Error("finishing the snapshot of " + path_,
                    std::to_string(snapshot_totals_.vcpus) + " of " +
                        std::to_string(metadata_.vcpu_count) + " vCPU states written");
    }
    snapshot_->append(ChunkType::SnapshotEnd, encode_snapshot_end(snapshot_totals_));
    snapshot_->close();
    snapshot_.reset();
    log_ = std::make_unique<ChunkFileWriter>(path_ + "/" + kLogFileName, FileKind::Log);
    sync_directory(path_);
}

void TraceWriter::append(const LogRecord& record) {
    need_log_open("appending a record");
    encode_log_record(pending_, record);
    if (pending_.size() >= log_chunk_bytes_) {
        flush();
    }
}

void TraceWriter::flush() {
    need_log_open("flushing the log");
    if (pending_.size() == 0) {
        return;
    }
    // Clear first: a failed write must not be retried with the same
    // sequence of bytes by the destructor.
    ByteWriter chunk = std::move(pending_);
    pending_ = ByteWriter();
    log_->append(ChunkType::LogRecords, chunk.data());
}

void TraceWriter::finish(const RecordEnd& end) {
    flush();
    log_->append(ChunkType::RecordEnd, encode_record_end(end));
    log_->close();
    closed_ = true;
}

void TraceWriter::close() {
    if (closed_) {
        return;
    }
    flush();
    log_->close();
    closed_ = true;
}

} // namespace krr::trace
