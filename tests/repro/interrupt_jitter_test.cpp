#include "recorder/accel/interrupt_jitter.h"

#include <doctest/doctest.h>
#include <set>
#include <vector>

namespace {

// The delays a jitter draws for `n` interrupts, each pending from count 1000.
std::vector<uint64_t> delays(uint64_t seed, int n) {
    krr::InterruptJitter jitter(seed, 5000);
    std::vector<uint64_t> out;
    for (int i = 0; i < n; ++i) {
        uint64_t count = 1000;
        while (!jitter.may_deliver(count)) {
            REQUIRE(jitter.deadline());
            count = *jitter.deadline();
        }
        out.push_back(count - 1000);
        jitter.delivered();
        CHECK_FALSE(jitter.deadline());
    }
    return out;
}

} // namespace

TEST_CASE("interrupt jitter: deterministic for a seed, different across seeds, bounded") {
    auto a = delays(7, 64);
    CHECK(a == delays(7, 64));
    CHECK(a != delays(8, 64));
    std::set<uint64_t> distinct(a.begin(), a.end());
    CHECK(distinct.size() > 32);
    for (uint64_t d : a) {
        CHECK(d <= 5000);
    }
}

TEST_CASE("interrupt jitter: a drawn delay holds until the interrupt is delivered") {
    krr::InterruptJitter jitter(3, 5000);
    bool now = jitter.may_deliver(100);
    REQUIRE(jitter.deadline());
    const uint64_t deadline = *jitter.deadline();
    // Asking again later (e.g. after the guest toggled IF) draws nothing new.
    CHECK(jitter.may_deliver(101) == (101 >= deadline));
    CHECK(*jitter.deadline() == deadline);
    CHECK(jitter.may_deliver(deadline));
    CHECK((now == (deadline == 100)));
}
