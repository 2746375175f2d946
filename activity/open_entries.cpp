#include "activity/open_entries.h"

namespace krr::activity {

void OpenEntries::enter(uint64_t task, uint64_t frame, EntryRef entry) {
    open_[{task, frame}] = entry;
}

std::optional<EntryRef> OpenEntries::leave(uint64_t task, uint64_t frame) {
    auto it = open_.find({task, frame});
    if (it == open_.end()) {
        return std::nullopt;
    }
    EntryRef entry = it->second;
    open_.erase(it);
    return entry;
}

void OpenEntries::forget_task(uint64_t task) {
    auto it = open_.lower_bound({task, 0});
    while (it != open_.end() && it->first.first == task) {
        it = open_.erase(it);
    }
}

} // namespace krr::activity
