// The activity index of a trace: every event the indexing pass found, in
// time order, and what the pass could and could not find out (notes). It is
// cached in the trace directory (file "activity") beside a staleness key, so
// a changed trace or a newer indexer rebuilds it instead of trusting it.
#pragma once

#include "activity/activity_event.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace krr::activity {

inline constexpr const char* kActivityFileName = "activity";
// Bump when the file layout changes.
inline constexpr uint32_t kActivityFormatVersion = 2;
// Bump when the indexing pass finds different events from the same trace.
inline constexpr uint32_t kIndexerVersion = 7;

// Where task names come from, when they could be found.
struct TaskLayout {
    bool known = false;
    uint32_t pid_offset = 0;  // of task_struct.pid (an int)
    uint32_t comm_offset = 0; // of task_struct.comm (16 chars)

    bool operator==(const TaskLayout&) const = default;
};

struct ActivityIndex {
    uint64_t staleness_key = 0; // trace_staleness_key() of the trace indexed
    uint64_t start_instruction = 0;
    uint64_t end_instruction = 0;
    TaskLayout tasks;
    std::vector<std::string> notes; // what the pass could not do, and why
    std::vector<ActivityEvent> events;

    bool operator==(const ActivityIndex&) const = default;
};

std::vector<uint8_t> encode_activity_index(const ActivityIndex& index);
// Trusts nothing: throws krr::Error("activity index", why) on any malformed,
// truncated, oversized or out-of-order content, or another format version.
ActivityIndex decode_activity_index(std::span<const uint8_t> bytes);

// A hash of the trace's metadata and log files, of the kernel symbols the
// pass used and of the indexer version: an index with another key describes
// another trace, another System.map or an older indexer.
uint64_t staleness_key(const std::string& trace_path, std::string_view system_map_text);

} // namespace krr::activity
