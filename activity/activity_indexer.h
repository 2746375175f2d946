// The indexing pass: replays a trace once, forward, with breakpoints on the
// kernel's entry points (System.map names them), and turns what it sees into
// an ActivityIndex. open_activity_index() is what the tools call: the cached
// index when it is fresh, a new pass (written back to the trace) otherwise.
#pragma once

#include "activity/activity_index.h"
#include "guest-model/trace/trace_metadata.h"

#include <functional>
#include <string>

namespace krr::activity {

// The kernel files the pass reads: by default those beside the trace's
// kernel image (the layout of krr's kernel cache).
struct KernelFiles {
    std::string system_map;
    std::string vmlinux; // with DWARF, for task names; may be missing
};
KernelFiles kernel_files_beside(const trace::TraceMetadata& metadata);

struct IndexerOptions {
    KernelFiles kernel; // empty paths: kernel_files_beside() the trace's kernel
    // Called every few million instructions with (done, total) instructions.
    std::function<void(uint64_t, uint64_t)> progress;
};

// Throws krr::Error when the trace cannot be replayed to its end or the
// System.map cannot be read.
ActivityIndex build_activity_index(const std::string& trace_path, const IndexerOptions& options);

struct OpenedIndex {
    ActivityIndex index;
    bool rebuilt = false;
    std::string cache_problem; // why the cached file was not used or not written
};
OpenedIndex open_activity_index(const std::string& trace_path, const IndexerOptions& options);

} // namespace krr::activity
