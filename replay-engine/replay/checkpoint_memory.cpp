#include "replay-engine/replay/checkpoint_memory.h"

#include "guest-model/error.h"

#include <algorithm>
#include <cstring>

namespace krr {

std::string to_string(const TimelinePosition& p) {
    std::string s =
        "instruction " + std::to_string(p.instructions) + ", input " + std::to_string(p.inputs);
    if (p.deliveries) {
        s += ", exception " + std::to_string(p.deliveries);
    }
    return s;
}

CheckpointMemory::CheckpointMemory(const GuestMemory& memory, const TimelinePosition& start)
    : start_memory_(memory.base(), memory.base() + memory.size()), start_(start) {
    pages_[start];
}

void CheckpointMemory::add(const TimelinePosition& at, const GuestMemory& memory,
                           const std::vector<uint64_t>& pages) {
    if (at <= start_ || pages_.count(at)) {
        throw Error("checkpoint at " + to_string(at), "already taken, or not after the start");
    }
    std::vector<uint64_t>& list = pages_[at];
    list.reserve(pages.size());
    for (uint64_t page : pages) {
        if (page + kPageSize > memory.size() || (page & (kPageSize - 1))) {
            continue;
        }
        Version v{at, std::make_unique<uint8_t[]>(kPageSize)};
        std::memcpy(v.bytes.get(), memory.base() + page, kPageSize);
        std::vector<Version>& history = versions_[page];
        auto where = std::upper_bound(
            history.begin(), history.end(), at,
            [](const TimelinePosition& p, const Version& version) { return p < version.at; });
        history.insert(where, std::move(v));
        list.push_back(page);
        bytes_ += kPageSize;
    }
}

void CheckpointMemory::remove(const TimelinePosition& at) {
    auto it = pages_.find(at);
    if (it == pages_.end() || at == start_) {
        return;
    }
    auto next = std::next(it);
    for (uint64_t page : it->second) {
        std::vector<Version>& history = versions_[page];
        auto mine = std::find_if(history.begin(), history.end(),
                                 [&](const Version& v) { return v.at == at; });
        if (mine == history.end()) {
            continue;
        }
        auto after = std::next(mine);
        if (next != pages_.end() && (after == history.end() || after->at != next->first)) {
            // Not written between this checkpoint and the next (or the next
            // would have its own version): the content is the next one's too.
            mine->at = next->first;
            next->second.push_back(page);
        } else {
            history.erase(mine);
            bytes_ -= kPageSize;
            if (history.empty()) {
                versions_.erase(page);
            }
        }
    }
    pages_.erase(it);
}

const uint8_t* CheckpointMemory::content_at(uint64_t page, const TimelinePosition& at) const {
    auto found = versions_.find(page);
    if (found != versions_.end()) {
        const std::vector<Version>& history = found->second;
        auto after =
            std::upper_bound(history.begin(), history.end(), at,
                             [](const TimelinePosition& p, const Version& v) { return p < v.at; });
        if (after != history.begin()) {
            return std::prev(after)->bytes.get();
        }
    }
    return start_memory_.data() + page;
}

std::vector<uint64_t> CheckpointMemory::restore(GuestMemory& memory, const TimelinePosition& from,
                                                const std::vector<uint64_t>& touched,
                                                const TimelinePosition& to) const {
    if (!pages_.count(to)) {
        throw Error("restoring " + to_string(to), "no checkpoint there");
    }
    std::vector<uint64_t> pages = touched;
    const TimelinePosition& low = std::min(from, to);
    const TimelinePosition& high = std::max(from, to);
    for (auto it = pages_.upper_bound(low); it != pages_.end() && it->first <= high; ++it) {
        pages.insert(pages.end(), it->second.begin(), it->second.end());
    }
    std::sort(pages.begin(), pages.end());
    pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
    for (uint64_t page : pages) {
        if (page + kPageSize <= memory.size()) {
            std::memcpy(memory.base() + page, content_at(page, to), kPageSize);
        }
    }
    return pages;
}

size_t CheckpointMemory::pages_at(const TimelinePosition& at) const {
    auto it = pages_.find(at);
    return it == pages_.end() ? 0 : it->second.size();
}

} // namespace krr
