#include "guest-model/error.h"
#include "replay-engine/replay/checkpoint_memory.h"

#include <algorithm>
#include <cstring>
#include <doctest/doctest.h>
#include <map>
#include <random>
#include <set>
#include <vector>

using namespace krr;

namespace {

constexpr uint64_t kPages = 64;
constexpr uint64_t kRamSize = kPages * kPageSize;

// One step of a deterministic guest history: some bytes written to a page.
struct PageWrite {
    uint64_t page = 0;
    uint64_t offset = 0;
    std::vector<uint8_t> bytes;
};

// Steps are numbered from 0; "after k steps" is a position. Several steps
// share an instruction count (inputs and deliveries tell them apart) so the
// comparison of every field of a position is exercised.
TimelinePosition position_after(uint64_t steps) {
    return TimelinePosition{steps / 4, (steps % 4) / 2, static_cast<uint32_t>(steps % 2)};
}

std::vector<PageWrite> random_history(std::mt19937_64& rng, size_t steps) {
    std::vector<PageWrite> history(steps);
    for (PageWrite& w : history) {
        // Writes favour a few hot pages, as a kernel's do, so checkpoints
        // share pages and removal has versions to hand on or drop.
        w.page = (rng() % 3 == 0 ? rng() % kPages : rng() % 6) * kPageSize;
        const uint64_t length = 1 + rng() % 64;
        w.offset = rng() % (kPageSize - length + 1);
        w.bytes.resize(length);
        for (uint8_t& b : w.bytes) {
            b = static_cast<uint8_t>(rng());
        }
    }
    return history;
}

void apply(uint8_t* memory, const PageWrite& w) {
    std::memcpy(memory + w.page + w.offset, w.bytes.data(), w.bytes.size());
}

std::vector<uint8_t> random_ram(std::mt19937_64& rng) {
    std::vector<uint8_t> ram(kRamSize);
    for (uint8_t& b : ram) {
        b = static_cast<uint8_t>(rng());
    }
    return ram;
}

void fill_page(GuestMemory& memory, uint64_t page, uint8_t value) {
    std::memset(memory.base() + page, value, kPageSize);
}

bool page_is(const GuestMemory& memory, uint64_t page, uint8_t value) {
    const uint8_t* p = memory.base() + page;
    return std::all_of(p, p + kPageSize, [&](uint8_t b) { return b == value; });
}

bool same_memory(const GuestMemory& memory, const std::vector<uint8_t>& expected) {
    return std::memcmp(memory.base(), expected.data(), kRamSize) == 0;
}

// The live side of a replay in the model: memory after `steps` steps of the
// history, which equals checkpoint `anchor`'s memory except on `touched`.
struct Replay {
    const std::vector<PageWrite>& history;
    const std::vector<uint8_t>& initial;
    GuestMemory memory{kRamSize};
    uint64_t steps = 0;
    uint64_t anchor = 0;
    std::set<uint64_t> touched;

    Replay(const std::vector<PageWrite>& h, const std::vector<uint8_t>& start)
        : history(h), initial(start) {
        std::memcpy(memory.base(), initial.data(), kRamSize);
    }
    void run(uint64_t count) {
        for (uint64_t i = 0; i < count; ++i, ++steps) {
            apply(memory.base(), history[steps]);
            touched.insert(history[steps].page);
        }
    }
    // The oracle: the memory after `k` steps, computed from the start.
    std::vector<uint8_t> expected_after(uint64_t k) const {
        std::vector<uint8_t> ram = initial;
        for (uint64_t i = 0; i < k; ++i) {
            apply(ram.data(), history[i]);
        }
        return ram;
    }
};

uint64_t pages_held(const CheckpointMemory& checkpoints, const std::set<uint64_t>& at_steps) {
    uint64_t total = 0;
    for (uint64_t k : at_steps) {
        if (k != 0) {
            total += checkpoints.pages_at(position_after(k));
        }
    }
    return total;
}

} // namespace

TEST_CASE("random histories: every restore rebuilds the checkpoint's memory exactly") {
    for (uint64_t seed = 1; seed <= 40; ++seed) {
        CAPTURE(seed);
        std::mt19937_64 rng(seed);
        const size_t kSteps = 400;
        const std::vector<PageWrite> history = random_history(rng, kSteps);
        const std::vector<uint8_t> initial = random_ram(rng);
        Replay live(history, initial);
        CheckpointMemory checkpoints(live.memory, position_after(0));
        std::set<uint64_t> taken{0}; // checkpoints, in steps
        int restores = 0, removals = 0;

        for (int op = 0; op < 300; ++op) {
            CAPTURE(op);
            const uint64_t choice = rng() % 10;
            if (choice < 4) {
                live.run(std::min<uint64_t>(1 + rng() % 12, kSteps - live.steps));
                if (taken.count(live.steps) && rng() % 2) {
                    // Passing a checkpoint: the live memory is that
                    // checkpoint's again, so it may become the anchor.
                    live.anchor = live.steps;
                    live.touched.clear();
                }
            } else if (choice < 6) {
                if (live.steps == 0 || taken.count(live.steps)) {
                    continue;
                }
                // The pages written since the anchor cover everything written
                // since the checkpoint before this one; sometimes more.
                std::set<uint64_t> listed = live.touched;
                if (rng() % 3 == 0) {
                    for (uint64_t extra = rng() % 4; extra > 0; --extra) {
                        listed.insert((rng() % kPages) * kPageSize);
                    }
                }
                std::vector<uint64_t> pages(listed.begin(), listed.end());
                std::shuffle(pages.begin(), pages.end(), rng);
                checkpoints.add(position_after(live.steps), live.memory, pages);
                CHECK(checkpoints.pages_at(position_after(live.steps)) == pages.size());
                taken.insert(live.steps);
                live.anchor = live.steps;
                live.touched.clear();
            } else if (choice < 8) {
                // Dropping any checkpoint but the start and the anchor.
                std::vector<uint64_t> candidates;
                for (uint64_t k : taken) {
                    if (k != 0 && k != live.anchor) {
                        candidates.push_back(k);
                    }
                }
                if (candidates.empty()) {
                    continue;
                }
                const uint64_t victim = candidates[rng() % candidates.size()];
                checkpoints.remove(position_after(victim));
                taken.erase(victim);
                ++removals;
                CHECK(checkpoints.pages_at(position_after(victim)) == 0);
            } else {
                auto it = taken.begin();
                std::advance(it, static_cast<long>(rng() % taken.size()));
                const uint64_t target = *it;
                CAPTURE(live.anchor);
                CAPTURE(target);
                const std::vector<uint8_t> before(live.memory.base(),
                                                  live.memory.base() + kRamSize);
                const std::vector<uint64_t> touched(live.touched.begin(), live.touched.end());
                const std::vector<uint64_t> written = checkpoints.restore(
                    live.memory, position_after(live.anchor), touched, position_after(target));
                REQUIRE(same_memory(live.memory, live.expected_after(target)));
                // The pages reported written are the only ones that changed.
                for (uint64_t page = 0; page < kRamSize; page += kPageSize) {
                    if (std::find(written.begin(), written.end(), page) == written.end()) {
                        CHECK(std::memcmp(before.data() + page, live.memory.base() + page,
                                          kPageSize) == 0);
                    }
                }
                live.steps = target;
                live.anchor = target;
                live.touched.clear();
                ++restores;
            }
            // Page data is what the checkpoints hold, page by page.
            CHECK(checkpoints.bytes() == kPageSize * pages_held(checkpoints, taken));
        }
        CHECK(restores > 10);
        CHECK(removals > 5);

        // Every checkpoint that is left still rebuilds, in any order.
        std::vector<uint64_t> order(taken.begin(), taken.end());
        std::shuffle(order.begin(), order.end(), rng);
        for (uint64_t k : order) {
            const std::vector<uint64_t> touched(live.touched.begin(), live.touched.end());
            checkpoints.restore(live.memory, position_after(live.anchor), touched,
                                position_after(k));
            REQUIRE(same_memory(live.memory, live.expected_after(k)));
            live.anchor = k;
            live.touched.clear();
        }
        // Dropping all but the start (the anchor last, once the live memory
        // is the start's again) leaves no page data behind.
        checkpoints.restore(live.memory, position_after(live.anchor),
                            std::vector<uint64_t>(live.touched.begin(), live.touched.end()),
                            position_after(0));
        live.steps = live.anchor = 0;
        live.touched.clear();
        for (uint64_t k : taken) {
            if (k != 0) {
                checkpoints.remove(position_after(k));
            }
        }
        CHECK(checkpoints.bytes() == 0);
        live.run(30);
        checkpoints.restore(live.memory, position_after(0),
                            std::vector<uint64_t>(live.touched.begin(), live.touched.end()),
                            position_after(0));
        CHECK(same_memory(live.memory, initial));
    }
}

TEST_CASE("bytes() counts one page per version held; removal hands pages on or frees them") {
    GuestMemory memory(kRamSize);
    const uint64_t a = 0, b = kPageSize, c = 2 * kPageSize, d = 3 * kPageSize;
    CheckpointMemory checkpoints(memory, TimelinePosition{100, 0, 0});
    CHECK(checkpoints.bytes() == 0);

    const TimelinePosition first{200, 0, 0}, second{300, 0, 0}, third{300, 1, 0};
    fill_page(memory, a, 1);
    fill_page(memory, b, 1);
    fill_page(memory, c, 1);
    checkpoints.add(first, memory, {a, b, c});
    CHECK(checkpoints.bytes() == 3 * kPageSize);
    CHECK(checkpoints.pages_at(first) == 3);

    fill_page(memory, b, 2);
    fill_page(memory, d, 2);
    checkpoints.add(second, memory, {b, d});
    CHECK(checkpoints.bytes() == 5 * kPageSize);

    fill_page(memory, d, 3);
    checkpoints.add(third, memory, {d});
    CHECK(checkpoints.bytes() == 6 * kPageSize);

    // The first checkpoint's a and c were not written again before the
    // second, so the second needs them: they move, nothing is freed. Its b
    // is superseded by the second's own version and is freed.
    checkpoints.remove(first);
    CHECK(checkpoints.bytes() == 5 * kPageSize);
    CHECK(checkpoints.pages_at(first) == 0);
    CHECK(checkpoints.pages_at(second) == 4);

    // Removing the last checkpoint frees all its pages.
    checkpoints.remove(third);
    CHECK(checkpoints.bytes() == 4 * kPageSize);

    // What is left still rebuilds the second checkpoint and the start.
    fill_page(memory, a, 9);
    fill_page(memory, b, 9);
    fill_page(memory, c, 9);
    fill_page(memory, d, 9);
    checkpoints.restore(memory, second, {a, b, c, d}, second);
    CHECK(page_is(memory, a, 1));
    CHECK(page_is(memory, b, 2));
    CHECK(page_is(memory, c, 1));
    CHECK(page_is(memory, d, 2));
    checkpoints.restore(memory, second, {}, TimelinePosition{100, 0, 0});
    for (uint64_t page : {a, b, c, d}) {
        CHECK(page_is(memory, page, 0));
    }

    checkpoints.remove(second);
    CHECK(checkpoints.bytes() == 0);
}

TEST_CASE("a restore between neighbours in either direction uses only the pages in between") {
    GuestMemory memory(kRamSize);
    const TimelinePosition start{0, 0, 0}, one{10, 0, 0}, two{20, 0, 0};
    CheckpointMemory checkpoints(memory, start);
    fill_page(memory, 5 * kPageSize, 5);
    checkpoints.add(one, memory, {5 * kPageSize});
    fill_page(memory, 7 * kPageSize, 7);
    checkpoints.add(two, memory, {7 * kPageSize});

    // Back from `two` to `one`: only page 7 differs.
    std::vector<uint64_t> written = checkpoints.restore(memory, two, {}, one);
    CHECK(page_is(memory, 5 * kPageSize, 5));
    CHECK(page_is(memory, 7 * kPageSize, 0));
    CHECK(std::find(written.begin(), written.end(), 7 * kPageSize) != written.end());

    // Live memory drifted from `one` on page 9; forward to `two`.
    fill_page(memory, 9 * kPageSize, 0x99);
    written = checkpoints.restore(memory, one, {9 * kPageSize}, two);
    CHECK(page_is(memory, 5 * kPageSize, 5));
    CHECK(page_is(memory, 7 * kPageSize, 7));
    CHECK(page_is(memory, 9 * kPageSize, 0));
    CHECK(std::find(written.begin(), written.end(), 9 * kPageSize) != written.end());
}

TEST_CASE("bad checkpoint requests are errors, not corruption") {
    GuestMemory memory(kRamSize);
    const TimelinePosition start{50, 3, 0};
    CheckpointMemory checkpoints(memory, start);
    fill_page(memory, 0, 1);

    CHECK_THROWS_AS(checkpoints.add(start, memory, {0}), Error);
    CHECK_THROWS_AS(checkpoints.add(TimelinePosition{49, 9, 0}, memory, {0}), Error);
    CHECK_THROWS_AS(checkpoints.add(TimelinePosition{50, 2, 1}, memory, {0}), Error);
    CHECK(checkpoints.bytes() == 0);

    const TimelinePosition later{60, 0, 0};
    checkpoints.add(later, memory, {0});
    CHECK_THROWS_AS(checkpoints.add(later, memory, {0}), Error);
    CHECK(checkpoints.bytes() == kPageSize);

    CHECK_THROWS_AS(checkpoints.restore(memory, later, {}, TimelinePosition{55, 0, 0}), Error);
    checkpoints.remove(later);
    CHECK_THROWS_AS(checkpoints.restore(memory, start, {}, later), Error);
    CHECK(page_is(memory, 0, 1)); // a refused restore writes nothing

    // The start cannot be dropped: it stays restorable.
    try {
        checkpoints.remove(start);
    } catch (const Error&) {
    }
    checkpoints.restore(memory, start, {0}, start);
    CHECK(page_is(memory, 0, 0));
}
