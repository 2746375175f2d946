// Test tool: moving backward in a replay must land in exactly the state a
// forward replay had there. Replays TRACE forward once with checkpoints,
// hashing registers and memory at a set of positions, then seeks back and
// forth to those positions (and steps backward one instruction at a time at
// the end) in a second session, requiring identical hashes.
//
// Then the debugger's view (issue 8): stepping backward retraces forward
// steps exactly; breakpoints stop where single-stepping finds the address
// first, forward and backward; a watchpoint on jiffies stops after each
// timer tick's write forward, and before it backward.
// Usage: timeline_check TRACE
#include "guest-model/checksum.h"
#include "guest-model/error.h"
#include "guest-model/state_hash.h"
#include "guest-model/symbols.h"
#include "replay-engine/replay/replay_session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

// For many positions: hashing all of guest memory each time would dominate,
// so the registers and the stack page, and all memory every 64th call.
StateId light_state_of(krr::ReplaySession& s, int i) {
    if (i % 64 == 0) {
        return state_of(s);
    }
    uint8_t page[4096] = {};
    s.read_virtual(s.vcpu().cpu.gpr[krr::RSP] & ~0xfffULL, page);
    return {krr::register_hash(s.vcpu()), krr::checksum64(page)};
}

std::string pos(const krr::TimelinePosition& p) {
    return krr::to_string(p);
}

#define CHECK_THAT(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::printf("FAIL: " __VA_ARGS__);                                                     \
            std::printf("\n");                                                                     \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

// Forward steps from `from`, then as many backward steps: each backward
// step must land on the position and state the forward steps passed.
int check_steps(krr::ReplaySession& s, uint64_t from, int steps) {
    int failures = 0;
    s.seek(from);
    std::vector<std::pair<krr::TimelinePosition, StateId>> seen;
    int extra_positions = 0;
    for (int i = 0; i < steps; ++i) {
        seen.emplace_back(s.now(), light_state_of(s, i));
        krr::TimelineStop stop = s.step(krr::Direction::Forward);
        if (stop.kind != krr::TimelineStopKind::Step) {
            CHECK_THAT(false, "forward step %d stopped with kind %d", i, int(stop.kind));
            return failures;
        }
        if (s.now().instructions == seen.back().first.instructions) {
            ++extra_positions; // an input or an exception, not an instruction
        }
    }
    for (int i = steps - 1; i >= 0; --i) {
        krr::TimelineStop stop = s.step(krr::Direction::Backward);
        CHECK_THAT(stop.kind == krr::TimelineStopKind::Step, "backward step %d: kind %d", i,
                   int(stop.kind));
        CHECK_THAT(s.now() == seen[i].first, "backward step %d at %s, expected %s", i,
                   pos(s.now()).c_str(), pos(seen[i].first).c_str());
        CHECK_THAT(light_state_of(s, i) == seen[i].second, "backward step %d: state differs at %s",
                   i, pos(s.now()).c_str());
        if (failures > 5) {
            return failures;
        }
    }
    std::printf("%d steps forward and back from %llu (%d inputs or exceptions among them)\n", steps,
                static_cast<unsigned long long>(from), extra_positions);
    return failures;
}

// A count shortly before the logged interrupt nearest the middle of the
// trace: steps across it pass an input and the handler's entry.
uint64_t before_interrupt(const krr::ReplaySession& s, uint64_t distance) {
    const uint64_t middle =
        s.start_instruction() + (s.end_instruction() - s.start_instruction()) / 2;
    uint64_t best = middle;
    uint64_t best_gap = ~0ULL;
    for (const auto& in : s.inputs()) {
        if (in.kind != static_cast<uint8_t>(krr::trace::InputKind::Interrupt) ||
            in.instruction_count < s.start_instruction() + distance) {
            continue;
        }
        uint64_t gap = in.instruction_count > middle ? in.instruction_count - middle
                                                     : middle - in.instruction_count;
        if (gap < best_gap) {
            best_gap = gap;
            best = in.instruction_count;
        }
    }
    return best - distance;
}

// A breakpoint at the instruction found at `at`: single-stepping the window
// before it finds the hits; continuing forward from the window's start and
// backward from its end must stop exactly there.
int check_breakpoint(krr::ReplaySession& s, uint64_t at, uint64_t window) {
    int failures = 0;
    s.set_breakpoints({});
    s.seek(at);
    const uint64_t address = s.vcpu().cpu.rip;
    const uint64_t from = at - window;
    s.seek(from);
    std::vector<krr::TimelinePosition> hits;
    uint64_t previous_rip = ~0ULL;
    krr::TimelinePosition end_of_window{};
    while (s.now().instructions < at) {
        if (s.vcpu().cpu.rip == address && previous_rip != address && s.now().instructions > from) {
            hits.push_back(s.now());
        }
        previous_rip = s.vcpu().cpu.rip;
        s.step(krr::Direction::Forward);
    }
    end_of_window = s.now();
    CHECK_THAT(!hits.empty(), "no hit of %#llx found by stepping",
               static_cast<unsigned long long>(address));
    if (hits.empty()) {
        return failures;
    }
    s.set_breakpoints({address});
    s.seek(from);
    for (size_t i = 0; i < hits.size() && i < 3; ++i) {
        krr::TimelineStop stop = s.resume(krr::Direction::Forward);
        CHECK_THAT(stop.kind == krr::TimelineStopKind::Breakpoint && s.now() == hits[i],
                   "continue %zu: kind %d at %s, expected the breakpoint at %s", i, int(stop.kind),
                   pos(s.now()).c_str(), pos(hits[i]).c_str());
    }
    s.seek(end_of_window);
    for (size_t i = 0; i < hits.size() && i < 3; ++i) {
        const krr::TimelinePosition& expected = hits[hits.size() - 1 - i];
        krr::TimelineStop stop = s.resume(krr::Direction::Backward);
        CHECK_THAT(stop.kind == krr::TimelineStopKind::Breakpoint && s.now() == expected &&
                       s.vcpu().cpu.rip == address,
                   "reverse-continue %zu: kind %d at %s, expected the breakpoint at %s", i,
                   int(stop.kind), pos(s.now()).c_str(), pos(expected).c_str());
    }
    s.set_breakpoints({});
    std::printf("breakpoint at %#llx: %zu hits in %llu instructions, found forward and back\n",
                static_cast<unsigned long long>(address), hits.size(),
                static_cast<unsigned long long>(window));
    return failures;
}

uint64_t read_u64(krr::ReplaySession& s, uint64_t address) {
    uint64_t v = 0;
    s.read_virtual(address, std::span(reinterpret_cast<uint8_t*>(&v), sizeof v));
    return v;
}

// jiffies changes on every timer tick: a write watchpoint stops after each
// write going forward, and before the write going backward.
int check_watchpoint(krr::ReplaySession& s, uint64_t jiffies) {
    int failures = 0;
    s.seek(s.start());
    s.set_watchpoints({{jiffies, 8, krr::WatchKind::Write}});
    std::vector<uint64_t> values;
    std::vector<krr::TimelinePosition> stops;
    for (int i = 0; i < 3; ++i) {
        krr::TimelineStop stop = s.resume(krr::Direction::Forward);
        CHECK_THAT(stop.kind == krr::TimelineStopKind::Watchpoint && stop.watch.address == jiffies,
                   "watch continue %d: kind %d, address %#llx", i, int(stop.kind),
                   static_cast<unsigned long long>(stop.watch.address));
        values.push_back(read_u64(s, jiffies));
        stops.push_back(s.now());
    }
    CHECK_THAT(values[1] != values[0] && values[2] != values[1],
               "jiffies did not change between watchpoint stops");
    // Backward from after the third write: before it, then before the second.
    for (int i = 2; i >= 1; --i) {
        krr::TimelineStop stop = s.resume(krr::Direction::Backward);
        CHECK_THAT(stop.kind == krr::TimelineStopKind::Watchpoint, "reverse watch %d: kind %d %s",
                   i, int(stop.kind), s.divergence().c_str());
        CHECK_THAT(read_u64(s, jiffies) == values[i - 1],
                   "reverse watch %d: jiffies is %llu, expected the old value %llu", i,
                   static_cast<unsigned long long>(read_u64(s, jiffies)),
                   static_cast<unsigned long long>(values[i - 1]));
        const krr::TimelinePosition before = s.now();
        krr::TimelineStop next = s.step(krr::Direction::Forward);
        CHECK_THAT(next.kind == krr::TimelineStopKind::Watchpoint && s.now() == stops[i] &&
                       read_u64(s, jiffies) == values[i],
                   "stepping the writing instruction at %s: kind %d, now %s, expected %s",
                   pos(before).c_str(), int(next.kind), pos(s.now()).c_str(),
                   pos(stops[i]).c_str());
        s.seek(before);
    }
    s.set_watchpoints({});
    std::printf("watchpoint on jiffies: 3 writes forward, 2 backward\n");
    return failures;
}

} // namespace

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

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

        // A tight checkpoint budget: checkpoints are dropped, what is left
        // stays within it, and seeking still lands in the same states.
        {
            krr::ReplaySessionOptions tight;
            tight.checkpoint_interval = std::max<uint64_t>((end - start) / 64, 1000);
            tight.checkpoint_memory = 4ULL << 20;
            krr::ReplaySession thin(argv[1], tight);
            thin.run_to(end);
            const size_t before = thin.checkpoint_count();
            for (uint64_t p : positions) {
                if (!thin.seek(p) || !(state_of(thin) == expected[p])) {
                    std::printf("FAIL: with a 4 MiB budget, seeking to %llu differs\n",
                                static_cast<unsigned long long>(p));
                    ++failures;
                }
            }
            // The start and the current anchor are kept whatever the budget.
            const uint64_t floor =
                2 * (thin.checkpoint_bytes() / std::max<size_t>(thin.checkpoint_count(), 1));
            if (thin.checkpoint_bytes() > tight.checkpoint_memory + floor) {
                std::printf("FAIL: checkpoints hold %llu KiB, over the 4 MiB budget\n",
                            static_cast<unsigned long long>(thin.checkpoint_bytes() / 1024));
                ++failures;
            }
            std::printf("4 MiB budget: %zu checkpoints after the forward run, %zu after seeking, "
                        "%llu KiB held\n",
                        before, thin.checkpoint_count(),
                        static_cast<unsigned long long>(thin.checkpoint_bytes() / 1024));
        }

        {
            auto t0 = std::chrono::steady_clock::now();
            failures += check_steps(session, start + (end - start) / 2, 2000);
            std::printf("  (%.1f s)\n", seconds_since(t0));
        }
        {
            auto t0 = std::chrono::steady_clock::now();
            failures += check_steps(session, before_interrupt(session, 1500), 3000);
            std::printf("  (%.1f s)\n", seconds_since(t0));
        }
        {
            session.seek(end);
            krr::TimelineStop stop = session.step(krr::Direction::Forward);
            if (stop.kind != krr::TimelineStopKind::TraceEnd) {
                std::printf("FAIL: stepping at the end gave kind %d\n", int(stop.kind));
                ++failures;
            }
            session.seek(session.start());
            stop = session.step(krr::Direction::Backward);
            if (stop.kind != krr::TimelineStopKind::TraceStart ||
                session.now() != session.start()) {
                std::printf("FAIL: stepping back at the start gave kind %d\n", int(stop.kind));
                ++failures;
            }
        }
        {
            auto t0 = std::chrono::steady_clock::now();
            failures += check_breakpoint(session, start + (end - start) * 2 / 3, 200'000);
            std::printf("  (%.1f s)\n", seconds_since(t0));
        }
        namespace fs = std::filesystem;
        fs::path map = fs::path(session.metadata().kernel.path).parent_path() / "System.map";
        krr::SymbolTable symbols = krr::SymbolTable::load(map.string());
        if (auto jiffies = symbols.address_of("jiffies_64")) {
            {
                auto t0 = std::chrono::steady_clock::now();
                failures += check_watchpoint(session, *jiffies);
                std::printf("  (%.1f s)\n", seconds_since(t0));
            }
        } else {
            std::printf("FAIL: no jiffies_64 in %s\n", map.c_str());
            ++failures;
        }
        std::printf("%d failures\n", failures);
        return failures ? 1 : 0;
    } catch (const krr::Error& e) {
        std::fprintf(stderr, "timeline_check: %s\n", e.what());
        return 1;
    }
}
