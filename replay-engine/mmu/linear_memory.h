// Guest memory as instructions see it: linear addresses translated through
// the TLB (filled by the page walk), RAM reached through a host pointer, the
// rest routed to MMIO. Faults are thrown as GuestFault. Also the debugger's
// side-effect-free view, and the hook that keeps decoded code coherent with
// writes (self-modifying code, text_poke, module loads).
#pragma once

#include "guest-model/guest_memory.h"
#include "replay-engine/mmu/guest_fault.h"
#include "replay-engine/mmu/page_walk.h"
#include "replay-engine/mmu/tlb.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <vector>

namespace krr {

// Where accesses outside RAM go (the machine's MMIO bus, or in replay the
// input log). Sizes are 1, 2, 4 or 8 bytes, naturally split by the caller.
class MmioHandler {
public:
    virtual ~MmioHandler() = default;
    virtual uint64_t mmio_read(uint64_t physical, int size) = 0;
    virtual void mmio_write(uint64_t physical, int size, uint64_t value) = 0;
};

// A debugger watchpoint: `length` bytes from a linear address.
enum class WatchKind : uint8_t { Write = 1, Read = 2, Access = 3 };
struct WatchRange {
    uint64_t address = 0;
    uint64_t length = 0;
    WatchKind kind = WatchKind::Write;
    bool operator==(const WatchRange&) const = default;
};
struct WatchHit {
    uint64_t address = 0; // the first watched byte the access touched
    WatchKind kind = WatchKind::Write;
    bool write = false; // the access that hit was a write
};

class LinearMemory {
public:
    LinearMemory(GuestMemory& ram, MmioHandler* mmio) : ram_(ram), mmio_(mmio) {}

    GuestMemory& ram() { return ram_; }
    Tlb& tlb() { return tlb_; }
    const PagingControl& paging() const { return paging_; }
    // The caller (MOV to CRn, WRMSR EFER) flushes the TLB as the architecture
    // requires; changing CR0.WP also needs a flush because TLB rights depend
    // on it.
    void set_paging(const PagingControl& control) { paging_ = control; }

    // Called for every guest write that reaches a physical page marked as
    // holding decoded code, before the write lands.
    void set_code_write_observer(std::function<void(uint64_t physical_page)> observer) {
        code_write_observer_ = std::move(observer);
    }
    // Mark/unmark a physical page as holding decoded code.
    void protect_code_page(uint64_t physical_page);
    void unprotect_code_page(uint64_t physical_page);
    bool is_code_page(uint64_t physical_page) const;

    // Dirty tracking (for replay checkpoints): every RAM page written from
    // now on is collected, once, by take_dirty_pages(), which also starts
    // the next round. Uses the same write protection as decoded code, so the
    // fast path stays a TLB hit after each page's first write.
    void start_dirty_tracking();
    std::vector<uint64_t> take_dirty_pages();
    bool dirty_tracking() const { return dirty_tracking_; }

    // Watchpoints. Pages holding a watched byte lose their fast-path read
    // and write rights, so only slow-path accesses need the range check.
    // The first hit since take_watch_hit() is kept.
    void set_watch_ranges(std::vector<WatchRange> ranges);
    // Back to an earlier copy of the TLB (see Tlb::restore_from), with the
    // page protections and watches of now.
    void restore_tlb(const Tlb& saved);
    const std::vector<WatchRange>& watch_ranges() const { return watches_; }
    bool has_watch_hit() const { return watch_hit_valid_; }
    WatchHit take_watch_hit() {
        watch_hit_valid_ = false;
        return watch_hit_;
    }

    template <typename T>
    T read(uint64_t linear, bool user, Access access = Access::Read) {
        if ((linear & 0xfff) <= 4096 - sizeof(T)) {
            if (TlbEntry* e = tlb_.find(linear, tlb_right(access, user)); e && e->host) {
                T v;
                std::memcpy(&v, e->host + (linear & 0xfff), sizeof(T));
                return v;
            }
        }
        T v;
        read_slow(linear, reinterpret_cast<uint8_t*>(&v), sizeof(T), user, access);
        return v;
    }

    template <typename T>
    void write(uint64_t linear, T value, bool user) {
        if ((linear & 0xfff) <= 4096 - sizeof(T)) {
            if (TlbEntry* e = tlb_.find(linear, tlb_right(Access::Write, user)); e && e->host) {
                std::memcpy(e->host + (linear & 0xfff), &value, sizeof(T));
                return;
            }
        }
        write_slow(linear, reinterpret_cast<const uint8_t*>(&value), sizeof(T), user);
    }

    // Any length, any alignment; a write that crosses a page boundary checks
    // both pages before writing anything (no partial writes on a fault).
    void read_bytes(uint64_t linear, std::span<uint8_t> out, bool user,
                    Access access = Access::Read);
    void write_bytes(uint64_t linear, std::span<const uint8_t> in, bool user);

    // Instruction fetch: copies up to out.size() bytes from `linear` and
    // returns how many could be fetched before a fault. The fault is thrown
    // only if not even the first byte can be fetched; the decoder reports a
    // truncated instruction when it needs more, and the caller then calls
    // fetch_fault() to raise the fault for the first unavailable byte.
    size_t fetch(uint64_t linear, std::span<uint8_t> out, bool user);
    [[noreturn]] void fetch_fault(uint64_t linear, bool user);

    // Translate for an access, filling the TLB; throws GuestFault.
    uint64_t translate(uint64_t linear, Access access, bool user);
    // For a write that will go through write_physical: a write right taken
    // away by a page protection is given back without a page walk.
    uint64_t translate_for_write(uint64_t linear, bool user);

    // The debugger's view: no faults, no A/D updates, no rights checks, no
    // MMIO side effects (MMIO reads as 0xff). Kernel addresses the current
    // page tables do not map are looked up in the kernel's tables when the
    // current ones are Linux's page-table-isolation user copy. Returns the
    // bytes done.
    size_t debug_read(uint64_t linear, std::span<uint8_t> out);
    size_t debug_write(uint64_t linear, std::span<const uint8_t> in);

private:
    void read_slow(uint64_t linear, uint8_t* out, size_t n, bool user, Access access);
    void write_slow(uint64_t linear, const uint8_t* in, size_t n, bool user);
    TlbEntry& fill(uint64_t linear, Access access, bool user);
    Translation debug_walk(uint64_t linear, Access access) const;
    static constexpr uint64_t kPtiUserTableBit = 1ULL << 12;
    bool page_watched(uint64_t linear) const;
    void apply_watches_to_tlb();
    static void hide_data_rights(TlbEntry& e);
    void check_watches(uint64_t linear, size_t n, bool write);
    void read_physical(uint64_t physical, uint8_t* out, size_t n);
    void write_physical(uint64_t physical, const uint8_t* in, size_t n);

    GuestMemory& ram_;
    MmioHandler* mmio_;
    Tlb tlb_;
    PagingControl paging_;
    static constexpr uint8_t kCodePage = 1;    // holds decoded code
    static constexpr uint8_t kTrackedPage = 2; // not yet written this tracking round
    bool write_protected(uint64_t physical_page) const {
        uint64_t index = physical_page >> 12;
        return index < page_flags_.size() && page_flags_[index];
    }
    void note_write(uint64_t physical_page);
    std::vector<uint8_t> page_flags_; // per RAM page: kCodePage | kTrackedPage
    bool dirty_tracking_ = false;
    std::vector<uint64_t> dirty_pages_;
    std::function<void(uint64_t)> code_write_observer_;
    std::vector<WatchRange> watches_;
    std::vector<uint64_t> watched_pages_; // linear page numbers, sorted
    WatchHit watch_hit_;
    bool watch_hit_valid_ = false;
};

} // namespace krr
