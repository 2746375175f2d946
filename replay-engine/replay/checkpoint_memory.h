// Guest memory at every checkpoint of a replay, copy-on-write: the RAM at
// the session's start, plus for each checkpoint the pages written since the
// one before it, as they were at the checkpoint. A page's content at a
// checkpoint is its latest version at or before it, or the start's.
//
// Restoring rewrites only what can differ: the pages written since the
// checkpoint the live memory last matched, and the pages some checkpoint
// between that one and the target holds. Removing a checkpoint (to stay
// within a memory budget) hands each of its pages to the next checkpoint
// unless that one has its own version, so every remaining checkpoint can
// still be rebuilt.
//
// Invariant the caller keeps: a checkpoint's page list includes every page
// written between the checkpoint before it and it (a superset is fine).
#pragma once

#include "guest-model/guest_memory.h"
#include "replay-engine/replay/timeline_position.h"

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

namespace krr {

class CheckpointMemory {
public:
    // The start: `memory` as it is now, at `start`.
    CheckpointMemory(const GuestMemory& memory, const TimelinePosition& start);

    // A checkpoint at `at` (after the start) holding the current content of
    // `pages` (page-aligned guest-physical addresses).
    void add(const TimelinePosition& at, const GuestMemory& memory,
             const std::vector<uint64_t>& pages);
    // Drops the checkpoint at `at` (never the start).
    void remove(const TimelinePosition& at);

    // Makes `memory`, which equals checkpoint `from`'s memory except on the
    // pages `touched`, equal to checkpoint `to`'s. Returns the pages written.
    std::vector<uint64_t> restore(GuestMemory& memory, const TimelinePosition& from,
                                  const std::vector<uint64_t>& touched,
                                  const TimelinePosition& to) const;

    // Page data held beyond the start's copy.
    uint64_t bytes() const { return bytes_; }
    size_t pages_at(const TimelinePosition& at) const;

private:
    struct Version {
        TimelinePosition at;
        std::unique_ptr<uint8_t[]> bytes;
    };
    const uint8_t* content_at(uint64_t page, const TimelinePosition& at) const;

    std::vector<uint8_t> start_memory_;
    TimelinePosition start_;
    std::unordered_map<uint64_t, std::vector<Version>> versions_; // by page, in time order
    std::map<TimelinePosition, std::vector<uint64_t>> pages_;     // by checkpoint
    uint64_t bytes_ = 0;
};

} // namespace krr
