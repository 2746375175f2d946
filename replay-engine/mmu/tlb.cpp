#include "replay-engine/mmu/tlb.h"

namespace krr {

void Tlb::insert(uint64_t linear, const Translation& t, bool cr0_wp, bool write_protected_page,
                 uint8_t* host_page) {
    TlbEntry& e = entries_[slot(linear)];
    if (e.tag != TlbEntry::kInvalid && e.from_large_page()) {
        --large_entries_;
    }
    uint8_t rights = tlb_right(Access::Read, false);
    bool writes_ok = t.dirty;
    if (writes_ok && (t.writable || !cr0_wp)) {
        rights |= tlb_right(Access::Write, false);
    }
    if (t.executable) {
        rights |= tlb_right(Access::Execute, false);
    }
    if (t.user) {
        rights |= tlb_right(Access::Read, true);
        if (writes_ok && t.writable) {
            rights |= tlb_right(Access::Write, true);
        }
        if (t.executable) {
            rights |= tlb_right(Access::Execute, true);
        }
    }
    e.tag = linear >> 12;
    e.physical_page = t.physical & ~0xfffULL;
    e.host = host_page;
    const uint8_t writes = tlb_right(Access::Write, false) | tlb_right(Access::Write, true);
    e.revoked = write_protected_page ? static_cast<uint8_t>(rights & writes) : 0;
    e.rights = write_protected_page ? static_cast<uint8_t>(rights & ~writes) : rights;
    e.watched = 0;
    e.global = t.global;
    e.large_shift = t.page_size >= (1ULL << 30) ? 18 : t.page_size > 4096 ? 9 : 0;
    if (e.from_large_page()) {
        ++large_entries_;
    }
}

void Tlb::flush_all() {
    ++epoch_;
    for (auto& e : entries_) {
        e.tag = TlbEntry::kInvalid;
    }
    large_entries_ = 0;
}

void Tlb::flush_non_global() {
    ++epoch_;
    for (auto& e : entries_) {
        if (e.tag != TlbEntry::kInvalid && !e.global) {
            if (e.from_large_page()) {
                --large_entries_;
            }
            e.tag = TlbEntry::kInvalid;
        }
    }
}

void Tlb::flush_page(uint64_t linear) {
    ++epoch_;
    TlbEntry& e = entries_[slot(linear)];
    if (e.tag == (linear >> 12)) {
        if (e.from_large_page()) {
            --large_entries_;
        }
        e.tag = TlbEntry::kInvalid;
    }
    if (large_entries_ == 0) {
        return;
    }
    // The guest may have mapped this address with a 2 MiB page, whose other
    // 4 KiB pieces sit in other slots.
    const uint64_t page = linear >> 12;
    for (auto& other : entries_) {
        if (other.tag != TlbEntry::kInvalid && other.from_large_page() &&
            (other.tag >> other.large_shift) == (page >> other.large_shift)) {
            other.tag = TlbEntry::kInvalid;
            --large_entries_;
        }
    }
}

void Tlb::revoke_writes_to(uint64_t physical_page) {
    const uint8_t writes = tlb_right(Access::Write, false) | tlb_right(Access::Write, true);
    for (auto& e : entries_) {
        if (e.tag != TlbEntry::kInvalid && e.physical_page == physical_page) {
            e.revoked |= static_cast<uint8_t>(e.rights & writes);
            e.rights &= static_cast<uint8_t>(~writes);
        }
    }
}

void Tlb::revoke_all_writes() {
    const uint8_t writes = tlb_right(Access::Write, false) | tlb_right(Access::Write, true);
    for (auto& e : entries_) {
        if (e.tag != TlbEntry::kInvalid) {
            e.revoked |= static_cast<uint8_t>(e.rights & writes);
            e.rights &= static_cast<uint8_t>(~writes);
        }
    }
}

} // namespace krr
