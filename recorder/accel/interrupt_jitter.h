// Per-attempt variation for racy reproducers. Under the emulator a run is a
// pure function of its inputs, so recording a racy program twice gives the
// same interleaving twice. With a seed, each external interrupt the vCPU
// could take is held back by a pseudorandom 0..max_delay instructions
// (80 us of guest time at most by default, like a busy host's delivery
// latency), so the timer ticks and wake-ups, and with them the scheduler's
// interleavings, differ from seed to seed.
//
// Deterministic for a seed. Nothing about it needs logging beyond what is
// logged already: the recorder logs every interrupt at the instruction count
// where it was delivered, and replay delivers it there, so a trace replays
// without knowing the seed.
#pragma once

#include <cstdint>
#include <optional>

namespace krr {

class InterruptJitter {
public:
    static constexpr uint64_t kDefaultMaxDelay = 20000; // instructions

    explicit InterruptJitter(uint64_t seed, uint64_t max_delay = kDefaultMaxDelay)
        : state_(seed), max_delay_(max_delay) {}

    // Whether the interrupt pending at `count` may be delivered now. The first
    // call for a pending interrupt draws its delay; the delay holds across
    // interrupt-flag toggles so an interrupt is never starved.
    bool may_deliver(uint64_t count) {
        if (!deadline_) {
            deadline_ = count + next() % (max_delay_ + 1);
        }
        return count >= *deadline_;
    }
    void delivered() { deadline_.reset(); }
    // Where the vCPU must stop to deliver a held-back interrupt on time.
    std::optional<uint64_t> deadline() const { return deadline_; }

private:
    // splitmix64: small, fast, and every seed gives a full-period stream.
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    uint64_t state_;
    uint64_t max_delay_;
    std::optional<uint64_t> deadline_;
};

} // namespace krr
