// The positions file of a trace recorded under KVM. Such a log has no
// instruction counts (kUnresolvedCount): the resolve pass finds them in the
// emulator and keeps them here, beside the log they belong to, so the log
// itself stays as recorded. One count per unresolved record, in log order;
// the file names the log by a hash of its bytes, so positions of another
// log are never applied. Magic, format version, then a body framed by its
// length and a checksum: nothing in it is believed before that is checked.
#pragma once

#include "guest-model/trace/log_records.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace krr::trace {

inline constexpr const char* kPositionsFileName = "positions";
inline constexpr uint32_t kPositionsFormatVersion = 1;

struct ResolvedPositions {
    uint64_t log_key = 0;         // log_key() of the log resolved
    std::vector<uint64_t> counts; // per unresolved record, in log order, non-decreasing

    bool operator==(const ResolvedPositions&) const = default;
};

std::vector<uint8_t> encode_positions(const ResolvedPositions& positions);
// Throws krr::Error on anything malformed.
ResolvedPositions decode_positions(std::span<const uint8_t> bytes);

// A hash of the trace's log file.
uint64_t log_key(const std::string& trace_path);
// Whether a record's count awaits resolving.
bool is_unresolved(const LogRecord& record);
// How many records of `records` await resolving.
uint64_t unresolved_records(std::span<const LogRecord> records);

// Reads the trace's positions file: nothing when there is none; throws
// krr::Error when it is corrupt or belongs to another log.
std::optional<ResolvedPositions> read_positions(const std::string& trace_path);
// Writes it atomically (a temporary file renamed over it).
void write_positions(const std::string& trace_path, const ResolvedPositions& positions);

// Gives each unresolved record its count. Throws krr::Error when the
// number of counts differs from the number of unresolved records.
void apply_positions(std::vector<LogRecord>& records, const ResolvedPositions& positions);

} // namespace krr::trace
