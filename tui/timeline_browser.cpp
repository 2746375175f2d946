#include "tui/timeline_browser.h"

#include "guest-model/error.h"

#include <algorithm>
#include <cctype>

namespace krr::tui {

using activity::ActivityEvent;
using activity::EventKind;

namespace {

std::string lowered(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

} // namespace

TimelineBrowser::TimelineBrowser(const activity::ActivityIndex& index) : index_(index) {
    descriptions_.reserve(index.events.size());
    for (const auto& e : index.events) {
        descriptions_.push_back(
            lowered(std::string(activity::event_kind_name(e.kind)) + " " + describe_event(e)));
    }
    rebuild(std::nullopt);
}

const ActivityEvent* TimelineBrowser::selected() const {
    return visible_.empty() ? nullptr : &index_.events[visible_[selected_]];
}

void TimelineBrowser::rebuild(std::optional<size_t> keep_event) {
    visible_.clear();
    for (size_t i = 0; i < index_.events.size(); ++i) {
        if (filter_.empty() || filter_.count(index_.events[i].kind)) {
            visible_.push_back(i);
        }
    }
    selected_ = 0;
    if (keep_event && !visible_.empty()) {
        auto it = std::lower_bound(visible_.begin(), visible_.end(), *keep_event);
        selected_ =
            it == visible_.end() ? visible_.size() - 1 : static_cast<size_t>(it - visible_.begin());
    }
}

void TimelineBrowser::set_filter(std::set<EventKind> kinds) {
    std::optional<size_t> keep;
    if (!visible_.empty()) {
        keep = visible_[selected_];
    }
    filter_ = std::move(kinds);
    rebuild(keep);
}

void TimelineBrowser::move(long rows) {
    if (visible_.empty()) {
        return;
    }
    long target = static_cast<long>(selected_) + rows;
    target = std::clamp(target, 0L, static_cast<long>(visible_.size()) - 1);
    selected_ = static_cast<size_t>(target);
}

void TimelineBrowser::select_row(size_t row) {
    if (!visible_.empty()) {
        selected_ = std::min(row, visible_.size() - 1);
    }
}

void TimelineBrowser::first() {
    selected_ = 0;
}

void TimelineBrowser::last() {
    selected_ = visible_.empty() ? 0 : visible_.size() - 1;
}

void TimelineBrowser::jump_to_count(uint64_t count) {
    auto it = std::find_if(visible_.begin(), visible_.end(), [&](size_t i) {
        return index_.events[i].position.instructions >= count;
    });
    selected_ = it == visible_.end() ? (visible_.empty() ? 0 : visible_.size() - 1)
                                     : static_cast<size_t>(it - visible_.begin());
}

bool TimelineBrowser::jump_to_crash() {
    auto crash = std::find_if(index_.events.begin(), index_.events.end(),
                              [](const ActivityEvent& e) { return e.kind == EventKind::Crash; });
    if (crash == index_.events.end()) {
        return false;
    }
    if (!filter_.empty() && !filter_.count(EventKind::Crash)) {
        filter_.insert(EventKind::Crash);
    }
    rebuild(static_cast<size_t>(crash - index_.events.begin()));
    return true;
}

bool TimelineBrowser::matches(size_t event, const std::string& text) const {
    return descriptions_[event].find(text) != std::string::npos;
}

bool TimelineBrowser::search(const std::string& text, bool forward) {
    last_search_ = text;
    return search_again(forward);
}

bool TimelineBrowser::search_again(bool forward) {
    if (last_search_.empty() || visible_.empty()) {
        return false;
    }
    const std::string text = lowered(last_search_);
    const size_t n = visible_.size();
    for (size_t step = 1; step <= n; ++step) {
        size_t row = forward ? (selected_ + step) % n : (selected_ + n - step % n) % n;
        if (matches(visible_[row], text)) {
            selected_ = row;
            return true;
        }
    }
    return false;
}

char kind_letter(EventKind kind) {
    static constexpr char kLetters[] = "sxpiwcn!";
    auto i = static_cast<size_t>(kind) - activity::kFirstEventKind;
    return i < sizeof kLetters - 1 ? kLetters[i] : '?';
}

std::set<EventKind> parse_kind_list(const std::string& text) {
    std::set<EventKind> kinds;
    size_t start = 0;
    while (start < text.size()) {
        size_t comma = text.find_first_of(", ", start);
        std::string name = text.substr(start, comma == std::string::npos ? comma : comma - start);
        start = comma == std::string::npos ? text.size() : comma + 1;
        if (name.empty()) {
            continue;
        }
        std::optional<EventKind> kind = activity::event_kind_from_name(name);
        if (!kind && name.size() == 1) {
            for (EventKind k : activity::all_event_kinds()) {
                if (kind_letter(k) == name[0]) {
                    kind = k;
                }
            }
        }
        if (!kind) {
            throw Error("filter: " + name, "unknown kind");
        }
        kinds.insert(*kind);
    }
    return kinds;
}

} // namespace krr::tui
