// Reads a trace directory. Opening it reads and checks the metadata; the
// snapshot and the log are then read in order by their own readers, which
// tell a complete file from one cut short by a crash and throw krr::Error on
// anything corrupt. Nothing here trusts the files.
#pragma once

#include "guest-model/guest_memory.h"
#include "guest-model/trace/chunk_file_reader.h"
#include "guest-model/trace/log_records.h"
#include "guest-model/trace/snapshot_codec.h"
#include "guest-model/trace/trace_metadata.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace krr::trace {

// How a snapshot or log file ends.
enum class FileEnd {
    Complete,  // its closing chunk (snapshot-end, record-end) is there
    Truncated, // it stops before that: cut mid-chunk or between chunks
};

// Progress through one chunk file, for summaries and error reports.
struct ChunkFileProgress {
    uint64_t chunks = 0; // complete chunks read, skipped ones included
    uint64_t stored_bytes = 0;
    uint64_t uncompressed_bytes = 0;
    uint64_t complete_bytes = 0; // where the last complete chunk ends
    uint64_t file_size = 0;
    bool cut_mid_chunk = false; // the file ends inside a chunk
    std::vector<std::string> notes;
};

using SnapshotItem = std::variant<MemoryRun, VcpuState, DeviceState>;

class SnapshotReader {
public:
    SnapshotReader(const std::string& path, const TraceMetadata& metadata);

    // The next item in file order; nullopt at the end (see end()). Throws
    // krr::Error on corruption, including totals that disagree with the
    // snapshot-end chunk or the metadata.
    std::optional<SnapshotItem> next();
    // Valid once next() has returned nullopt.
    FileEnd end() const { return complete_ ? FileEnd::Complete : FileEnd::Truncated; }
    ChunkFileProgress progress() const;

private:
    std::optional<SnapshotItem> take_pending();

    ChunkFileReader file_;
    uint64_t memory_size_;
    uint32_t vcpu_count_;
    uint64_t next_page_ = 0;
    std::vector<MemoryRun> pending_runs_;
    size_t pending_index_ = 0;
    SnapshotEnd seen_;
    std::vector<bool> vcpu_seen_;
    bool complete_ = false;
    uint64_t stored_bytes_ = 0;
    uint64_t uncompressed_bytes_ = 0;
};

class LogReader {
public:
    LogReader(const std::string& path, const TraceMetadata& metadata);

    // The next record in the order recorded, RecordEnd last; nullopt at the
    // end (see end()). Throws krr::Error on corruption.
    std::optional<LogRecord> next();
    FileEnd end() const { return complete_ ? FileEnd::Complete : FileEnd::Truncated; }
    ChunkFileProgress progress() const;
    // Records of kinds this version does not know, by kind number.
    const std::map<uint8_t, uint64_t>& skipped_records() const { return skipped_; }

private:
    ChunkFileReader file_;
    uint32_t vcpu_count_;
    std::vector<LogRecord> pending_;
    size_t pending_index_ = 0;
    std::map<uint8_t, uint64_t> skipped_;
    bool complete_ = false;
    uint64_t stored_bytes_ = 0;
    uint64_t uncompressed_bytes_ = 0;
};

// What load_snapshot() returns besides the memory it fills.
struct LoadedSnapshot {
    std::vector<VcpuState> vcpus; // by vCPU id
    std::vector<DeviceState> devices;
};

class TraceReader {
public:
    // Throws krr::Error when `path` is missing, is not a trace directory, or
    // its metadata is unreadable, corrupt or of another format version.
    explicit TraceReader(std::string path);

    const std::string& path() const { return path_; }
    const TraceMetadata& metadata() const { return metadata_; }

    bool has_log() const;
    bool has_index() const;
    SnapshotReader snapshot() const;
    LogReader log() const; // throws when there is no log file

    // Reads the whole snapshot, filling `memory` (which must be as large as
    // the metadata says). Throws unless the snapshot is complete.
    LoadedSnapshot load_snapshot(GuestMemory& memory) const;

private:
    std::string file(const char* name) const { return path_ + "/" + name; }

    std::string path_;
    TraceMetadata metadata_;
};

} // namespace krr::trace
