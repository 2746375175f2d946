// A software TLB: the emulator's common memory access is one compare of the
// page tag and one test of a rights bit, then a host pointer plus an offset.
// Entries are 4 KiB even when the guest maps 2 MiB pages; a 2 MiB mapping
// fills one entry per 4 KiB page touched.
//
// Rights are pre-combined per (access, privilege) so the fast path needs no
// knowledge of paging: write rights are granted only once the guest entry's
// dirty bit is set (so the first write takes the slow path and sets D), and
// are withheld for physical pages that hold decoded code (so a write there
// reaches the slow path, which invalidates the decoded code first).
#pragma once

#include "replay-engine/mmu/page_walk.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace krr {

struct TlbEntry {
    static constexpr uint64_t kInvalid = ~0ULL;
    uint64_t tag = kInvalid;    // linear address >> 12
    uint64_t physical_page = 0; // guest-physical address of the 4 KiB page
    uint8_t* host = nullptr;    // the page in host memory, or null for MMIO
    uint8_t rights = 0;         // tlb_right() bits
    // Write rights the mapping has but a page protection took away (decoded
    // code, dirty tracking): restored without a page walk once the write has
    // gone through the slow path, so protecting a page never changes what
    // the guest sees (no extra walks, no extra accessed bits).
    uint8_t revoked = 0;
    // Read and write rights withheld because a debugger watches this page:
    // accesses take the slow path, which checks the watched ranges and then
    // uses this entry without a walk (a walk could set accessed bits the
    // recorded run never set).
    uint8_t watched = 0;
    bool global = false;
    // log2 of the guest mapping's size in 4 KiB pages: 0, 9 (2 MiB) or 18 (1 GiB).
    uint8_t large_shift = 0;
    bool from_large_page() const { return large_shift != 0; }
};

// The rights bit an access needs.
constexpr uint8_t tlb_right(Access access, bool user) {
    return static_cast<uint8_t>(1u << (static_cast<int>(access) + (user ? 3 : 0)));
}

class Tlb {
public:
    static constexpr size_t kEntries = 1024;

    // The entry an access would use, or nullptr on a miss or missing right.
    TlbEntry* find(uint64_t linear, uint8_t needed_right) {
        TlbEntry& e = entries_[slot(linear)];
        return (e.tag == (linear >> 12) && (e.rights & needed_right)) ? &e : nullptr;
    }

    // Fill from a successful walk. `cr0_wp` decides supervisor writes to
    // read-only pages; `write_protected_page` withholds write rights (a page
    // holding decoded code); `host_page` is null for non-RAM.
    void insert(uint64_t linear, const Translation& t, bool cr0_wp, bool write_protected_page,
                uint8_t* host_page);

    void flush_all();
    // A CR3 write: global entries survive.
    void flush_non_global();
    // INVLPG: the 4 KiB entry, and every entry that came from a large page
    // covering the address.
    void flush_page(uint64_t linear);
    // Called when a physical page starts holding decoded code.
    void revoke_writes_to(uint64_t physical_page);
    // Called when dirty tracking starts over.
    void revoke_all_writes();
    // The entry for `linear` whatever its rights, or nullptr.
    TlbEntry* find_any(uint64_t linear) {
        TlbEntry& e = entries_[slot(linear)];
        return e.tag == (linear >> 12) ? &e : nullptr;
    }

    // Grows with every flush, so a cached translation (the interpreter's
    // current code page) can tell it may be stale.
    uint64_t epoch() const { return epoch_; }
    // Rights changed in place: cached translations must be looked up again.
    void bump_epoch() { ++epoch_; }

    // The entries of an earlier copy (a replay checkpoint's): which
    // translations are cached is guest-visible (a guest may clear an
    // accessed bit without INVLPG, and a cached entry then does not set it
    // again), so going back in time restores them rather than flushing.
    void restore_from(const Tlb& saved) {
        const uint64_t epoch = std::max(epoch_, saved.epoch_) + 1;
        *this = saved;
        epoch_ = epoch;
    }
    template <typename F>
    void for_each_valid(F&& f) {
        for (auto& e : entries_) {
            if (e.tag != TlbEntry::kInvalid) {
                f(e);
            }
        }
    }

private:
    static size_t slot(uint64_t linear) { return (linear >> 12) & (kEntries - 1); }
    std::array<TlbEntry, kEntries> entries_{};
    size_t large_entries_ = 0;
    uint64_t epoch_ = 0;
};

} // namespace krr
