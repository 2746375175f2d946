// What the TUI's event list is, apart from how it is drawn: the events that
// pass the kind filter, the selected one, and the moves the keys make
// (search, jump to a count, to the end, to the crash). Kept free of ncurses
// so it can be tested as plain code.
#pragma once

#include "activity/activity_index.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace krr::tui {

class TimelineBrowser {
public:
    explicit TimelineBrowser(const activity::ActivityIndex& index);

    const activity::ActivityIndex& index() const { return index_; }
    // Indices into index().events of the events that pass the filter.
    const std::vector<size_t>& visible() const { return visible_; }
    // The selected event, nullptr when nothing passes the filter.
    const activity::ActivityEvent* selected() const;
    size_t selected_row() const { return selected_; }

    // An empty set shows every kind. The selection stays on the same event
    // when it still passes, else on the nearest one at or after it in time.
    void set_filter(std::set<activity::EventKind> kinds);
    const std::set<activity::EventKind>& filter() const { return filter_; }

    void move(long rows); // clamped to the list
    void select_row(size_t row);
    void first();
    void last();
    // The first visible event at or after `count` (the last one when none is).
    void jump_to_count(uint64_t count);
    // The crash event, whatever the filter (the crash kind is shown again if
    // it was filtered out). False when the trace has no crash.
    bool jump_to_crash();
    // Case-insensitive substring search over event descriptions, from the
    // row after (or before) the selection, wrapping around. Remembers the
    // text for search_again. False when nothing matches.
    bool search(const std::string& text, bool forward = true);
    bool search_again(bool forward);
    const std::string& last_search() const { return last_search_; }

private:
    void rebuild(std::optional<size_t> keep_event);
    bool matches(size_t event, const std::string& lowered) const;

    const activity::ActivityIndex& index_;
    std::set<activity::EventKind> filter_;
    std::vector<size_t> visible_;
    size_t selected_ = 0;
    std::string last_search_;
    std::vector<std::string> descriptions_; // lowered, by event
};

// The letter the strip draws for a kind, and that `f` accepts for it:
// s syscall, x exception, p page-fault, i interrupt, w switch, c console,
// n input, ! crash.
char kind_letter(activity::EventKind kind);

// Parses "syscall,crash" (kind names, or their first letters as the help
// lists them) into a filter; throws krr::Error naming an unknown kind.
std::set<activity::EventKind> parse_kind_list(const std::string& text);

} // namespace krr::tui
