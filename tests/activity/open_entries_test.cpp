// Matching IRETQs to the entries they end: by task and frame, so nested
// entries and tasks that slept in the kernel each get their own return.
#include "activity/open_entries.h"

#include <doctest/doctest.h>

using namespace krr::activity;

namespace {

constexpr uint64_t kTaskA = 0xffff888001000000ULL;
constexpr uint64_t kTaskB = 0xffff888002000000ULL;
constexpr uint64_t kUser = OpenEntries::kFromUser;

} // namespace

TEST_CASE("open entries: nested entries return innermost first, each to its own frame") {
    OpenEntries open;
    open.enter(kTaskA, kUser, {false, 1});                 // a page fault from user mode
    open.enter(kTaskA, 0xffffc90000003f58ULL, {true, 7});  // an interrupt inside it
    open.enter(kTaskA, 0xffffc90000003e10ULL, {false, 2}); // a fault inside the interrupt
    CHECK(open.size() == 3);
    CHECK(open.leave(kTaskA, 0xffffc90000003e10ULL) == EntryRef{false, 2});
    CHECK(open.leave(kTaskA, 0xffffc90000003f58ULL) == EntryRef{true, 7});
    CHECK(open.leave(kTaskA, kUser) == EntryRef{false, 1});
    CHECK(open.size() == 0);
    CHECK_FALSE(open.leave(kTaskA, kUser).has_value()); // a system call's IRETQ: nothing open
}

TEST_CASE("open entries: a task that sleeps in the kernel keeps its entry") {
    OpenEntries open;
    open.enter(kTaskA, kUser, {false, 1}); // A faults, sleeps; B runs
    open.enter(kTaskB, kUser, {false, 2});
    CHECK(open.leave(kTaskB, kUser) == EntryRef{false, 2});
    CHECK(open.leave(kTaskA, kUser) == EntryRef{false, 1});
}

TEST_CASE("open entries: an entry that never returned is replaced, and dropped at a task start") {
    OpenEntries open;
    open.enter(kTaskA, kUser, {false, 1}); // the task died in the kernel
    open.enter(kTaskA, kUser, {false, 5}); // the same task_struct, a new entry
    CHECK(open.size() == 1);
    CHECK(open.leave(kTaskA, kUser) == EntryRef{false, 5});
    open.enter(kTaskA, kUser, {false, 6});
    open.enter(kTaskA, 0xffffc90000003f58ULL, {true, 8});
    open.enter(kTaskB, kUser, {false, 9});
    open.forget_task(kTaskA);
    CHECK_FALSE(open.leave(kTaskA, kUser).has_value());
    CHECK_FALSE(open.leave(kTaskA, 0xffffc90000003f58ULL).has_value());
    CHECK(open.leave(kTaskB, kUser) == EntryRef{false, 9});
}
