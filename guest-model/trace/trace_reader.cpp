#include "guest-model/trace/trace_reader.h"

#include "guest-model/error.h"
#include "guest-model/trace/trace_files.h"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>

namespace krr::trace {

namespace {

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

ChunkFileProgress progress_of(const ChunkFileReader& f, uint64_t stored, uint64_t uncompressed) {
    ChunkFileProgress p;
    p.chunks = f.complete_chunks();
    p.stored_bytes = stored;
    p.uncompressed_bytes = uncompressed;
    p.complete_bytes = f.complete_bytes();
    p.file_size = f.file_size();
    p.cut_mid_chunk = f.truncated();
    p.notes = f.notes();
    return p;
}

} // namespace

// ---- snapshot ----

SnapshotReader::SnapshotReader(const std::string& path, const TraceMetadata& metadata)
    : file_(path, FileKind::Snapshot), memory_size_(metadata.memory_size),
      vcpu_count_(metadata.vcpu_count), vcpu_seen_(metadata.vcpu_count, false) {}

ChunkFileProgress SnapshotReader::progress() const {
    return progress_of(file_, stored_bytes_, uncompressed_bytes_);
}

std::optional<SnapshotItem> SnapshotReader::take_pending() {
    if (pending_index_ < pending_runs_.size()) {
        return SnapshotItem(std::move(pending_runs_[pending_index_++]));
    }
    pending_runs_.clear();
    pending_index_ = 0;
    return std::nullopt;
}

std::optional<SnapshotItem> SnapshotReader::next() {
    if (auto run = take_pending()) {
        return run;
    }
    while (auto chunk = file_.next()) {
        const std::string where = file_.path() + ": chunk " + std::to_string(chunk->sequence) +
                                  " at byte " + std::to_string(chunk->offset);
        if (complete_) {
            throw Error(where, "chunk after the snapshot end");
        }
        stored_bytes_ += chunk->stored_length;
        uncompressed_bytes_ += chunk->payload.size();
        try {
            switch (static_cast<ChunkType>(chunk->type)) {
            case ChunkType::Memory: {
                pending_runs_ = decode_memory_chunk(chunk->payload, memory_size_, next_page_);
                for (const auto& r : pending_runs_) {
                    seen_.pages += r.page_count();
                }
                if (auto run = take_pending()) {
                    return run;
                }
                throw Error("memory chunk", "holds no pages");
            }
            case ChunkType::CpuState: {
                VcpuState v = decode_vcpu_state(chunk->payload);
                if (v.id >= vcpu_count_ || vcpu_seen_[v.id]) {
                    throw Error("vCPU state", v.id >= vcpu_count_
                                                  ? "vCPU " + std::to_string(v.id) +
                                                        " does not exist in a machine of " +
                                                        std::to_string(vcpu_count_)
                                                  : "vCPU " + std::to_string(v.id) + " repeated");
                }
                vcpu_seen_[v.id] = true;
                ++seen_.vcpus;
                return SnapshotItem(std::move(v));
            }
            case ChunkType::DeviceState:
                ++seen_.devices;
                return SnapshotItem(decode_device_state(chunk->payload));
            case ChunkType::SnapshotEnd: {
                SnapshotEnd e = decode_snapshot_end(chunk->payload);
                if (!(e == seen_)) {
                    throw Error("snapshot end", "totals (" + std::to_string(e.pages) + " pages, " +
                                                    std::to_string(e.vcpus) + " vCPUs, " +
                                                    std::to_string(e.devices) +
                                                    " devices) disagree with the " +
                                                    "chunks read (" + std::to_string(seen_.pages) +
                                                    ", " + std::to_string(seen_.vcpus) + ", " +
                                                    std::to_string(seen_.devices) + ")");
                }
                if (e.vcpus != vcpu_count_) {
                    throw Error("snapshot end", "holds " + std::to_string(e.vcpus) +
                                                    " vCPU states, the metadata says " +
                                                    std::to_string(vcpu_count_));
                }
                complete_ = true;
                break;
            }
            default:
                throw Error("snapshot", "unexpected " + chunk_type_name(chunk->type) + " chunk");
            }
        } catch (const Error& e) {
            throw Error(where, e.what());
        }
    }
    if (complete_ && file_.truncated()) {
        throw Error(file_.path() + ": byte " + std::to_string(file_.complete_bytes()),
                    "data after the snapshot end");
    }
    return std::nullopt;
}

// ---- log ----

LogReader::LogReader(const std::string& path, const TraceMetadata& metadata)
    : file_(path, FileKind::Log), vcpu_count_(metadata.vcpu_count) {}

ChunkFileProgress LogReader::progress() const {
    ChunkFileProgress p = progress_of(file_, stored_bytes_, uncompressed_bytes_);
    for (const auto& [kind, count] : skipped_) {
        p.notes.push_back("skipped " + std::to_string(count) + " records of unknown kind " +
                          std::to_string(kind));
    }
    return p;
}

namespace {

uint32_t record_vcpu(const LogRecord& r) {
    return std::visit(
        [](const auto& x) -> uint32_t {
            if constexpr (requires { x.vcpu; }) {
                return x.vcpu;
            } else {
                return 0;
            }
        },
        r);
}

} // namespace

std::optional<LogRecord> LogReader::next() {
    while (true) {
        if (pending_index_ < pending_.size()) {
            return std::move(pending_[pending_index_++]);
        }
        pending_.clear();
        pending_index_ = 0;
        auto chunk = file_.next();
        if (!chunk) {
            if (complete_ && file_.truncated()) {
                throw Error(file_.path() + ": byte " + std::to_string(file_.complete_bytes()),
                            "data after the record end");
            }
            return std::nullopt;
        }
        const std::string where = file_.path() + ": chunk " + std::to_string(chunk->sequence) +
                                  " at byte " + std::to_string(chunk->offset);
        if (complete_) {
            throw Error(where, "chunk after the record end");
        }
        stored_bytes_ += chunk->stored_length;
        uncompressed_bytes_ += chunk->payload.size();
        try {
            if (chunk->type == static_cast<uint32_t>(ChunkType::RecordEnd)) {
                complete_ = true;
                return LogRecord(decode_record_end(chunk->payload));
            }
            if (chunk->type != static_cast<uint32_t>(ChunkType::LogRecords)) {
                throw Error("log", "unexpected " + chunk_type_name(chunk->type) + " chunk");
            }
            pending_ = decode_log_chunk(chunk->payload, skipped_);
            for (const auto& r : pending_) {
                if (record_vcpu(r) >= vcpu_count_) {
                    throw Error("log record", "names vCPU " + std::to_string(record_vcpu(r)) +
                                                  " in a machine of " +
                                                  std::to_string(vcpu_count_));
                }
            }
        } catch (const Error& e) {
            pending_.clear();
            throw Error(where, e.what());
        }
    }
}

// ---- the directory ----

TraceReader::TraceReader(std::string path) : path_(std::move(path)) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
        throw Error(path_, errno_text(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        throw Error(path_, "not a trace (a trace is a directory)");
    }
    const std::string metadata_path = file(kMetadataFileName);
    if (!exists(metadata_path)) {
        throw Error(path_, "not a trace (no metadata file)");
    }
    ChunkFileReader f(metadata_path, FileKind::Metadata);
    auto chunk = f.next();
    if (!chunk) {
        // Metadata is renamed into place whole, so a short one is damage.
        throw Error(metadata_path, f.truncated() ? "truncated" : "holds no metadata chunk");
    }
    try {
        metadata_ = decode_metadata(chunk->payload);
    } catch (const Error& e) {
        throw Error(metadata_path, e.what());
    }
    if (f.next() || f.truncated()) {
        throw Error(metadata_path, "unexpected data after the metadata chunk");
    }
}

bool TraceReader::has_log() const {
    return exists(file(kLogFileName));
}
bool TraceReader::has_index() const {
    return exists(file(kIndexFileName));
}

SnapshotReader TraceReader::snapshot() const {
    return SnapshotReader(file(kSnapshotFileName), metadata_);
}

LogReader TraceReader::log() const {
    return LogReader(file(kLogFileName), metadata_);
}

LoadedSnapshot TraceReader::load_snapshot(GuestMemory& memory) const {
    if (memory.size() != metadata_.memory_size) {
        throw Error("loading the snapshot of " + path_,
                    "guest memory is " + std::to_string(memory.size()) + " bytes, the trace says " +
                        std::to_string(metadata_.memory_size));
    }
    LoadedSnapshot out;
    out.vcpus.resize(metadata_.vcpu_count);
    SnapshotReader r = snapshot();
    while (auto item = r.next()) {
        if (auto* run = std::get_if<MemoryRun>(&*item)) {
            memory.write(run->first_page * kSnapshotPageSize, run->bytes);
        } else if (auto* v = std::get_if<VcpuState>(&*item)) {
            out.vcpus[v->id] = *v;
        } else {
            out.devices.push_back(std::get<DeviceState>(std::move(*item)));
        }
    }
    if (r.end() != FileEnd::Complete) {
        auto p = r.progress();
        throw Error(path_ + "/" + kSnapshotFileName,
                    "truncated after chunk " + std::to_string(p.chunks) + " at byte " +
                        std::to_string(p.complete_bytes) + ": the snapshot is incomplete");
    }
    return out;
}

} // namespace krr::trace
