// Test tool: moving backward in a replay must land in exactly the state a
// forward replay had there. Replays TRACE forward once with checkpoints,
// hashing registers and memory at a set of positions, then seeks back and
// forth to those positions (and steps backward one instruction at a time at
// the end) in a second session, requiring identical hashes.
// Usage: timeline_check TRACE
#include "guest-model/error.h"
#include "guest-model/state_hash.h"
#include "replay-engine/replay/replay_session.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

namespace {

struct StateId {
    uint64_t registers;
    uint64_t memory;
    bool operator==(const StateId&) const = default;
};

StateId state_of(const krr::ReplaySession& s) {
    return {krr::register_hash(s.vcpu()), krr::memory_hash(krr::page_hashes(s.memory()))};
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: timeline_check TRACE\n");
        return 2;
    }
    try {
        krr::ReplaySessionOptions plain;
        krr::ReplaySession forward(argv[1], plain);
        const uint64_t start = forward.start_instruction();
        const uint64_t end = forward.end_instruction();
        if (end - start < 1000) {
            std::fprintf(stderr, "timeline_check: the trace is too short\n");
            return 1;
        }
        // Positions: spread over the run, plus the last few instructions.
        std::mt19937_64 rng(7);
        std::vector<uint64_t> positions;
        for (int i = 0; i < 12; ++i) {
            positions.push_back(start + rng() % (end - start));
        }
        for (uint64_t back = 1; back <= 5; ++back) {
            positions.push_back(end - back);
        }
        std::sort(positions.begin(), positions.end());
        positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
        std::map<uint64_t, StateId> expected;
        for (uint64_t p : positions) {
            if (!forward.run_to(p)) {
                std::fprintf(stderr, "timeline_check: forward replay failed: %s\n",
                             forward.divergence().c_str());
                return 1;
            }
            expected[p] = state_of(forward);
        }

        krr::ReplaySessionOptions travel;
        travel.checkpoint_interval = std::max<uint64_t>((end - start) / 8, 1000);
        krr::ReplaySession session(argv[1], travel);
        if (!session.run_to(end)) {
            std::fprintf(stderr, "timeline_check: replay failed: %s\n",
                         session.divergence().c_str());
            return 1;
        }
        // Step backward one instruction at a time from the end.
        int failures = 0;
        for (uint64_t back = 1; back <= 5; ++back) {
            session.seek(end - back);
            if (!(state_of(session) == expected[end - back])) {
                std::printf("FAIL: stepping back to %llu\n",
                            static_cast<unsigned long long>(end - back));
                ++failures;
            }
        }
        // Then jump around in a shuffled order.
        std::shuffle(positions.begin(), positions.end(), rng);
        for (uint64_t p : positions) {
            if (!session.seek(p)) {
                std::printf("FAIL: seek to %llu: %s\n", static_cast<unsigned long long>(p),
                            session.divergence().c_str());
                return 1;
            }
            if (session.position() != p || !(state_of(session) == expected[p])) {
                std::printf("FAIL: state after seeking to %llu differs from the forward replay\n",
                            static_cast<unsigned long long>(p));
                ++failures;
            }
        }
        std::printf("%zu positions checked by seeking (%zu checkpoints, %llu KiB of pages), "
                    "%d failures\n",
                    positions.size(), session.checkpoint_count(),
                    static_cast<unsigned long long>(session.checkpoint_bytes() / 1024), failures);
        return failures ? 1 : 0;
    } catch (const krr::Error& e) {
        std::fprintf(stderr, "timeline_check: %s\n", e.what());
        return 1;
    }
}
