#include "replay-engine/mmu/page_walk.h"

#include <cstring>

namespace krr {

namespace {

constexpr uint64_t kP = 1ULL << 0, kRw = 1ULL << 1, kUs = 1ULL << 2, kA = 1ULL << 5, kD = 1ULL << 6,
                   kPs = 1ULL << 7, kG = 1ULL << 8, kXd = 1ULL << 63;
constexpr uint64_t kAddressMask = ((1ULL << kPhysicalAddressBits) - 1) & ~0xfffULL;
// Bits 51..MAXPHYADDR are reserved in every entry.
constexpr uint64_t kHighReserved = ((1ULL << 52) - 1) & ~((1ULL << kPhysicalAddressBits) - 1);

constexpr uint64_t kCr0Pg = 1ULL << 31, kCr0Wp = 1ULL << 16;
constexpr uint64_t kCr4Pge = 1ULL << 7;
constexpr uint64_t kEferNxe = 1ULL << 11;

// A page-table entry read through the guest-physical bus: outside RAM the
// bus floats and reads all ones (which then faults on reserved bits).
uint64_t read_entry(GuestMemory& memory, uint64_t address, uint8_t** where) {
    uint8_t* p = memory.host(address, 8);
    *where = p;
    if (!p) {
        return ~0ULL;
    }
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

void write_entry(uint8_t* where, uint64_t value) {
    if (where) {
        std::memcpy(where, &value, 8);
    }
}

} // namespace

bool is_canonical(uint64_t linear) {
    uint64_t top = linear >> 47;
    return top == 0 || top == 0x1ffff;
}

Translation walk_page_tables(GuestMemory& memory, const PagingControl& control, uint64_t linear,
                             Access access, bool user, PageWalkOptions options) {
    Translation t;
    if (!(control.cr0 & kCr0Pg)) {
        t.ok = true;
        t.physical = linear;
        t.writable = t.user = t.executable = true;
        t.dirty = true;
        return t;
    }
    const bool nxe = (control.efer & kEferNxe) != 0;
    const bool write = access == Access::Write;
    const bool fetch = access == Access::Execute;
    uint32_t base_error =
        (write ? kPfWrite : 0) | (user ? kPfUser : 0) | (fetch && nxe ? kPfFetch : 0);
    const uint64_t reserved_common = kHighReserved | (nxe ? 0 : kXd);

    uint64_t table = control.cr3 & kAddressMask;
    uint8_t* where[4] = {};
    uint64_t entries[4] = {};
    int levels_used = 0;
    bool writable = true, user_ok = true, executable = true;
    uint64_t page_size = 0;

    for (int level = 0; level < 4; ++level) {
        int shift = 39 - 9 * level;
        uint64_t index = (linear >> shift) & 0x1ff;
        uint64_t entry = read_entry(memory, table + index * 8, &where[level]);
        entries[level] = entry;
        levels_used = level + 1;
        if (!(entry & kP)) {
            t.error_code = base_error;
            return t;
        }
        uint64_t reserved = reserved_common;
        bool leaf = false;
        if (level == 0) {
            reserved |= kPs; // PML4E.PS is reserved
        } else if (level == 1 && (entry & kPs)) {
            leaf = true;
            reserved |= 0x3fffe000ULL; // bits 29:13 of a 1 GiB mapping
        } else if (level == 2 && (entry & kPs)) {
            leaf = true;
            reserved |= 0x1fe000ULL; // bits 20:13 of a 2 MiB mapping
        } else if (level == 3) {
            leaf = true;
        }
        if (entry & reserved) {
            t.error_code = base_error | kPfPresent | kPfReserved;
            return t;
        }
        writable = writable && (entry & kRw);
        user_ok = user_ok && (entry & kUs);
        if (nxe && (entry & kXd)) {
            executable = false;
        }
        if (leaf) {
            page_size = level == 1 ? (1ULL << 30) : level == 2 ? (2ULL << 20) : 4096;
            break;
        }
        table = entry & kAddressMask;
    }

    uint64_t leaf_entry = entries[levels_used - 1];
    if (options.check_rights) {
        bool allowed = true;
        if (user && !user_ok) {
            allowed = false;
        } else if (write && !writable && (user || (control.cr0 & kCr0Wp))) {
            allowed = false;
        } else if (fetch && !executable) {
            allowed = false;
        }
        if (!allowed) {
            t.error_code = base_error | kPfPresent;
            return t;
        }
    }

    if (options.set_accessed_dirty) {
        for (int level = 0; level < levels_used; ++level) {
            uint64_t e = entries[level];
            uint64_t updated = e | kA;
            if (level == levels_used - 1 && write) {
                updated |= kD;
            }
            if (updated != e) {
                write_entry(where[level], updated);
                entries[level] = updated;
            }
        }
        leaf_entry = entries[levels_used - 1];
    }

    uint64_t frame = leaf_entry & kAddressMask & ~(page_size - 1);
    t.ok = true;
    t.physical = frame | (linear & (page_size - 1));
    t.writable = writable;
    t.user = user_ok;
    t.executable = executable;
    t.global = (control.cr4 & kCr4Pge) && (leaf_entry & kG);
    t.dirty = (leaf_entry & kD) != 0;
    t.page_size = page_size;
    return t;
}

} // namespace krr
