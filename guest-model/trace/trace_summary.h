// Everything `krr info` reports about a trace, gathered by reading all of it.
// Damage past the metadata does not throw: it is part of the summary, so a
// cut-off or corrupt trace still shows what is readable.
#pragma once

#include "guest-model/trace/log_records.h"
#include "guest-model/trace/trace_metadata.h"
#include "guest-model/trace/trace_reader.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace krr::trace {

enum class TraceHealth { Complete, Truncated, Corrupt };

struct SnapshotSummary {
    uint64_t pages = 0; // non-zero 4 KiB pages stored
    uint32_t vcpus = 0;
    std::optional<uint64_t> start_instruction; // vCPU 0's count at the snapshot
    std::vector<std::string> devices;
    ChunkFileProgress progress;
    bool complete = false;
    std::string error; // set when corrupt
};

struct LogSummary {
    bool present = false;
    ChunkFileProgress progress;
    std::map<std::string, uint64_t> records_by_kind; // "input", "console", "state-hash"
    std::map<std::string, uint64_t> inputs_by_kind;  // "port-read", ...
    std::optional<uint64_t> first_instruction;
    std::optional<uint64_t> last_instruction;
    uint64_t console_bytes = 0;
    std::string console_tail;     // the last bytes of console output (at most 2 KiB)
    std::optional<RecordEnd> end; // present iff the log is complete
    std::string error;            // set when corrupt
    // A recording made under KVM: records whose count the resolve pass
    // finds, and whether the trace's positions file gives them (then the
    // counts above include them).
    uint64_t unresolved_records = 0;
    bool positions_resolved = false;
    std::string positions_problem; // why the positions file was not used
};

struct TraceSummary {
    std::string path;
    TraceMetadata metadata;
    SnapshotSummary snapshot;
    LogSummary log;
    bool has_index = false;

    TraceHealth health() const;
    // Why the trace is not complete (empty when it is), e.g. "log truncated
    // after 3 complete chunks at byte 1234 of 1300".
    std::string problem() const;
};

// Throws krr::Error only when there is no readable metadata (missing path,
// not a trace, unsupported version, damaged metadata).
TraceSummary summarize_trace(const std::string& path);

} // namespace krr::trace
