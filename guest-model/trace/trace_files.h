// The names of the files inside a trace directory.
#pragma once

namespace krr::trace {

inline constexpr const char* kMetadataFileName = "metadata";
inline constexpr const char* kSnapshotFileName = "snapshot";
inline constexpr const char* kLogFileName = "log";
inline constexpr const char* kIndexFileName = "index";

} // namespace krr::trace
