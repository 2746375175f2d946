#include "replay-engine/mmu/linear_memory.h"

#include <algorithm>

namespace krr {

namespace {

constexpr uint64_t kCr0Wp = 1ULL << 16;

} // namespace

void LinearMemory::protect_code_page(uint64_t physical_page) {
    uint64_t index = physical_page >> 12;
    if (index >= ram_.size() / kPageSize) {
        return;
    }
    if (page_flags_.empty()) {
        page_flags_.assign(ram_.size() / kPageSize, 0);
    }
    if (!(page_flags_[index] & kCodePage)) {
        page_flags_[index] |= kCodePage;
        tlb_.revoke_writes_to(physical_page & ~0xfffULL);
    }
}

void LinearMemory::unprotect_code_page(uint64_t physical_page) {
    uint64_t index = physical_page >> 12;
    if (index < page_flags_.size()) {
        page_flags_[index] &= static_cast<uint8_t>(~kCodePage);
    }
}

bool LinearMemory::is_code_page(uint64_t physical_page) const {
    uint64_t index = physical_page >> 12;
    return index < page_flags_.size() && (page_flags_[index] & kCodePage);
}

void LinearMemory::start_dirty_tracking() {
    if (page_flags_.empty()) {
        page_flags_.assign(ram_.size() / kPageSize, 0);
    }
    for (uint8_t& flags : page_flags_) {
        flags |= kTrackedPage;
    }
    dirty_pages_.clear();
    dirty_tracking_ = true;
    tlb_.revoke_all_writes();
}

std::vector<uint64_t> LinearMemory::take_dirty_pages() {
    std::vector<uint64_t> pages = std::move(dirty_pages_);
    dirty_pages_.clear();
    for (uint64_t page : pages) {
        page_flags_[page >> 12] |= kTrackedPage;
        tlb_.revoke_writes_to(page);
    }
    return pages;
}

void LinearMemory::note_write(uint64_t page) {
    uint8_t& flags = page_flags_[page >> 12];
    if (flags & kTrackedPage) {
        flags &= static_cast<uint8_t>(~kTrackedPage);
        dirty_pages_.push_back(page);
    }
    if (flags & kCodePage) {
        // Decoded code on this page goes stale with this write.
        flags &= static_cast<uint8_t>(~kCodePage);
        if (code_write_observer_) {
            code_write_observer_(page);
        }
    }
}

TlbEntry& LinearMemory::fill(uint64_t linear, Access access, bool user) {
    if (!is_canonical(linear)) {
        throw GuestFault::gp(0);
    }
    Translation t = walk_page_tables(ram_, paging_, linear, access, user);
    if (!t.ok) {
        throw GuestFault::pf(linear, t.error_code);
    }
    uint64_t page = t.physical & ~0xfffULL;
    tlb_.insert(linear, t, (paging_.cr0 & kCr0Wp) != 0, write_protected(page),
                ram_.host(page, kPageSize));
    // insert() always fills the slot, so the entry is found.
    TlbEntry* e = tlb_.find_any(linear);
    if (!watches_.empty() && page_watched(linear)) {
        hide_data_rights(*e);
    }
    return *e;
}

void LinearMemory::set_watch_ranges(std::vector<WatchRange> ranges) {
    watches_ = std::move(ranges);
    watched_pages_.clear();
    for (const WatchRange& w : watches_) {
        if (w.length == 0) {
            continue;
        }
        uint64_t last = w.address + (w.length - 1);
        for (uint64_t page = w.address >> 12;; ++page) {
            watched_pages_.push_back(page);
            if (page == last >> 12) {
                break;
            }
        }
    }
    std::sort(watched_pages_.begin(), watched_pages_.end());
    watched_pages_.erase(std::unique(watched_pages_.begin(), watched_pages_.end()),
                         watched_pages_.end());
    watch_hit_valid_ = false;
    // Adjusted in place: a flush would make the next accesses walk the page
    // tables again, which may set accessed bits a straight replay does not.
    apply_watches_to_tlb();
}

// A watched page's reads and writes go to the slow path, which checks the
// ranges; the rights are kept aside so it needs no page walk.
void LinearMemory::hide_data_rights(TlbEntry& e) {
    const uint8_t data =
        static_cast<uint8_t>(tlb_right(Access::Read, false) | tlb_right(Access::Read, true) |
                             tlb_right(Access::Write, false) | tlb_right(Access::Write, true));
    e.watched |= static_cast<uint8_t>((e.rights | e.revoked) & data);
    e.rights &= static_cast<uint8_t>(~data);
    e.revoked &= static_cast<uint8_t>(~data);
}

void LinearMemory::apply_watches_to_tlb() {
    const uint8_t reads =
        static_cast<uint8_t>(tlb_right(Access::Read, false) | tlb_right(Access::Read, true));
    const uint8_t writes =
        static_cast<uint8_t>(tlb_right(Access::Write, false) | tlb_right(Access::Write, true));
    tlb_.for_each_valid([&](TlbEntry& e) {
        if (page_watched(e.tag << 12)) {
            hide_data_rights(e);
        } else if (e.watched) {
            // Writes come back through the protection path, which knows
            // whether the page holds decoded code.
            e.rights |= static_cast<uint8_t>(e.watched & reads);
            e.revoked |= static_cast<uint8_t>(e.watched & writes);
            e.watched = 0;
        }
    });
    tlb_.bump_epoch();
}

void LinearMemory::restore_tlb(const Tlb& saved) {
    tlb_.restore_from(saved);
    // Which pages hold decoded code or are dirty-tracked is today's fact.
    tlb_.revoke_all_writes();
    apply_watches_to_tlb();
}

bool LinearMemory::page_watched(uint64_t linear) const {
    return std::binary_search(watched_pages_.begin(), watched_pages_.end(), linear >> 12);
}

void LinearMemory::check_watches(uint64_t linear, size_t n, bool write) {
    if (watch_hit_valid_ || n == 0) {
        return;
    }
    const uint64_t last = linear + (n - 1);
    for (const WatchRange& w : watches_) {
        const bool wanted = write ? (static_cast<uint8_t>(w.kind) & 1) != 0
                                  : (static_cast<uint8_t>(w.kind) & 2) != 0;
        if (!wanted || w.length == 0) {
            continue;
        }
        const uint64_t w_last = w.address + (w.length - 1);
        if (linear <= w_last && w.address <= last) {
            watch_hit_ = WatchHit{std::max(linear, w.address), w.kind, write};
            watch_hit_valid_ = true;
            return;
        }
    }
}

uint64_t LinearMemory::translate(uint64_t linear, Access access, bool user) {
    if (TlbEntry* e = tlb_.find(linear, tlb_right(access, user))) {
        return e->physical_page | (linear & 0xfff);
    }
    if (!watches_.empty()) {
        if (TlbEntry* e = tlb_.find_any(linear); e && (e->watched & tlb_right(access, user))) {
            return e->physical_page | (linear & 0xfff);
        }
    }
    // A miss, or an entry without this right: walk again. The walk checks the
    // rights, sets A/D, and may refill the TLB with write rights withheld (a
    // code page), which is why the physical address comes from the walk.
    TlbEntry& e = fill(linear, access, user);
    return e.physical_page | (linear & 0xfff);
}

void LinearMemory::read_physical(uint64_t physical, uint8_t* out, size_t n) {
    if (const uint8_t* p = ram_.host(physical, n)) {
        std::memcpy(out, p, n);
        return;
    }
    while (n) {
        size_t size = 8;
        while (size > n || (physical & (size - 1))) {
            size >>= 1;
        }
        uint64_t v = mmio_ ? mmio_->mmio_read(physical, static_cast<int>(size)) : ~0ULL;
        std::memcpy(out, &v, size);
        out += size;
        physical += size;
        n -= size;
    }
}

void LinearMemory::write_physical(uint64_t physical, const uint8_t* in, size_t n) {
    if (uint8_t* p = ram_.host(physical, n)) {
        uint64_t page = physical & ~0xfffULL;
        if (write_protected(page)) {
            note_write(page);
        }
        std::memcpy(p, in, n);
        return;
    }
    while (n) {
        size_t size = 8;
        while (size > n || (physical & (size - 1))) {
            size >>= 1;
        }
        uint64_t v = 0;
        std::memcpy(&v, in, size);
        if (mmio_) {
            mmio_->mmio_write(physical, static_cast<int>(size), v);
        }
        in += size;
        physical += size;
        n -= size;
    }
}

void LinearMemory::read_slow(uint64_t linear, uint8_t* out, size_t n, bool user, Access access) {
    if (!watches_.empty()) {
        check_watches(linear, n, false);
    }
    while (n) {
        size_t chunk = std::min<size_t>(n, kPageSize - (linear & 0xfff));
        uint64_t physical = translate(linear, access, user);
        read_physical(physical, out, chunk);
        linear += chunk;
        out += chunk;
        n -= chunk;
    }
}

uint64_t LinearMemory::translate_for_write(uint64_t linear, bool user) {
    const uint8_t needed = tlb_right(Access::Write, user);
    if (TlbEntry* e = tlb_.find_any(linear); e && (e->revoked & needed)) {
        // The mapping allows the write; only a page protection took the
        // right away. The caller writes through write_physical, which
        // handles the protection, so give the right back without a walk.
        e->rights |= needed;
        e->revoked &= static_cast<uint8_t>(~needed);
        return e->physical_page | (linear & 0xfff);
    }
    return translate(linear, Access::Write, user);
}

void LinearMemory::write_slow(uint64_t linear, const uint8_t* in, size_t n, bool user) {
    if (!watches_.empty()) {
        check_watches(linear, n, true);
    }
    // Translate every page first so a fault on the second page leaves the
    // first unwritten, as on hardware.
    size_t first = std::min<size_t>(n, kPageSize - (linear & 0xfff));
    uint64_t p1 = translate_for_write(linear, user);
    if (first == n) {
        write_physical(p1, in, n);
        return;
    }
    uint64_t p2 = translate_for_write(linear + first, user);
    size_t second = std::min<size_t>(n - first, kPageSize);
    if (first + second != n) {
        // Longer than two pages (FXSAVE is 512 bytes, so only bulk copies):
        // validate each page, then write.
        for (uint64_t off = first + second; off < n; off += kPageSize) {
            translate_for_write(linear + off, user);
        }
    }
    write_physical(p1, in, first);
    write_physical(p2, in + first, second);
    for (uint64_t off = first + second; off < n; off += kPageSize) {
        size_t len = std::min<size_t>(kPageSize, n - off);
        write_physical(translate_for_write(linear + off, user), in + off, len);
    }
}

void LinearMemory::read_bytes(uint64_t linear, std::span<uint8_t> out, bool user, Access access) {
    read_slow(linear, out.data(), out.size(), user, access);
}

void LinearMemory::write_bytes(uint64_t linear, std::span<const uint8_t> in, bool user) {
    write_slow(linear, in.data(), in.size(), user);
}

size_t LinearMemory::fetch(uint64_t linear, std::span<uint8_t> out, bool user) {
    size_t done = 0;
    while (done < out.size()) {
        uint64_t at = linear + done;
        size_t chunk = std::min<size_t>(out.size() - done, kPageSize - (at & 0xfff));
        uint64_t physical;
        if (TlbEntry* e = tlb_.find(at, tlb_right(Access::Execute, user))) {
            physical = e->physical_page | (at & 0xfff);
        } else if (done == 0) {
            physical = translate(at, Access::Execute, user); // throws for the first byte
        } else {
            if (!is_canonical(at)) {
                return done;
            }
            Translation t = walk_page_tables(ram_, paging_, at, Access::Execute, user,
                                             PageWalkOptions{false, true});
            if (!t.ok) {
                return done;
            }
            physical = translate(at, Access::Execute, user);
        }
        read_physical(physical, out.data() + done, chunk);
        done += chunk;
    }
    return done;
}

void LinearMemory::fetch_fault(uint64_t linear, bool user) {
    translate(linear, Access::Execute, user);
    // Translation succeeded after all: the instruction is longer than 15
    // bytes or the bytes changed; either way it cannot execute.
    throw GuestFault::gp(0);
}

Translation LinearMemory::debug_walk(uint64_t linear, Access access) const {
    Translation t =
        walk_page_tables(ram_, paging_, linear, access, false, PageWalkOptions{false, false});
    if (!t.ok && (linear >> 63) && (paging_.cr3 & kPtiUserTableBit)) {
        // Linux with page-table isolation runs user mode on a copy of the
        // page tables that maps almost nothing of the kernel; the kernel's
        // own tables sit 4 KiB below it. A debugger stopped in user mode
        // still wants kernel variables.
        PagingControl kernel = paging_;
        kernel.cr3 &= ~kPtiUserTableBit;
        t = walk_page_tables(ram_, kernel, linear, access, false, PageWalkOptions{false, false});
    }
    return t;
}

size_t LinearMemory::debug_read(uint64_t linear, std::span<uint8_t> out) {
    size_t done = 0;
    while (done < out.size()) {
        uint64_t at = linear + done;
        if (!is_canonical(at)) {
            break;
        }
        Translation t = debug_walk(at, Access::Read);
        if (!t.ok) {
            break;
        }
        size_t chunk = std::min<size_t>(out.size() - done, kPageSize - (at & 0xfff));
        if (const uint8_t* p = ram_.host(t.physical, chunk)) {
            std::memcpy(out.data() + done, p, chunk);
        } else {
            std::memset(out.data() + done, 0xff, chunk);
        }
        done += chunk;
    }
    return done;
}

size_t LinearMemory::debug_write(uint64_t linear, std::span<const uint8_t> in) {
    size_t done = 0;
    while (done < in.size()) {
        uint64_t at = linear + done;
        if (!is_canonical(at)) {
            break;
        }
        Translation t = debug_walk(at, Access::Write);
        if (!t.ok) {
            break;
        }
        size_t chunk = std::min<size_t>(in.size() - done, kPageSize - (at & 0xfff));
        uint8_t* p = ram_.host(t.physical, chunk);
        if (!p) {
            break; // the debugger does not poke devices
        }
        uint64_t page = t.physical & ~0xfffULL;
        if (write_protected(page)) {
            note_write(page);
        }
        std::memcpy(p, in.data() + done, chunk);
        done += chunk;
    }
    return done;
}

} // namespace krr
