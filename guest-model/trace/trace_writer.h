// Writes a trace directory: metadata (atomically), then the snapshot, then
// the append-only log. Killed at any moment, it leaves a directory that
// TraceReader reads up to the last complete chunk.
#pragma once

#include "guest-model/machine_state.h"
#include "guest-model/trace/chunk_file_writer.h"
#include "guest-model/trace/log_records.h"
#include "guest-model/trace/snapshot_codec.h"
#include "guest-model/trace/trace_metadata.h"

#include <memory>
#include <span>
#include <string>

namespace krr::trace {

// Buffered log records leave as one chunk once they reach this size.
inline constexpr size_t kDefaultLogChunkBytes = 256 * 1024;

class TraceWriter {
public:
    // Creates the directory `path` (it must not exist) and writes its
    // metadata; the format version is filled in here.
    TraceWriter(std::string path, TraceMetadata metadata,
                size_t log_chunk_bytes = kDefaultLogChunkBytes);
    // Without finish() or close(), buffered records are written but nothing
    // is synced and the log has no end record.
    ~TraceWriter();
    TraceWriter(const TraceWriter&) = delete;
    TraceWriter& operator=(const TraceWriter&) = delete;

    // The snapshot: guest RAM from guest-physical 0 (at most the metadata's
    // memory size; all-zero pages are not stored), every vCPU, every device,
    // in any order, then finish_snapshot().
    void write_memory(std::span<const uint8_t> ram);
    void write_vcpu(const VcpuState& state);
    void write_device(const DeviceState& device);
    // Seals and syncs the snapshot and opens the log. Throws unless one
    // state per vCPU of the metadata was written.
    void finish_snapshot();

    // Log records in the order they happened (not RecordEnd: see finish()).
    void append(const LogRecord& record);
    // Writes buffered records as one chunk now.
    void flush();
    // Flushes, writes the end record, syncs and closes: a complete trace.
    void finish(const RecordEnd& end);
    // Flushes, syncs and closes without an end record.
    void close();

    const std::string& path() const { return path_; }
    uint64_t log_bytes_written() const { return log_ ? log_->bytes_written() : 0; }
    uint64_t log_chunks_written() const { return log_ ? log_->chunks_written() : 0; }

private:
    void write_metadata();
    void need_snapshot_open(const char* what) const;
    void need_log_open(const char* what) const;

    std::string path_;
    TraceMetadata metadata_;
    size_t log_chunk_bytes_;
    std::unique_ptr<ChunkFileWriter> snapshot_;
    std::unique_ptr<ChunkFileWriter> log_;
    ByteWriter pending_;
    SnapshotEnd snapshot_totals_;
    std::vector<bool> vcpu_written_;
    bool memory_written_ = false;
    bool closed_ = false;
};

} // namespace krr::trace
