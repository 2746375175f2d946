// Long-mode address translation (4-level paging) as the architecture defines
// it: permission checks combined over all levels, reserved-bit checks for the
// masked CPU (40 physical address bits, 4 KiB/2 MiB/1 GiB pages, NX only with
// EFER.NXE), the page-fault error code, and accessed/dirty bits written back
// to the guest's page tables. No TLB here: see tlb.h.
#pragma once

#include "guest-model/guest_memory.h"

#include <cstdint>

namespace krr {

enum class Access : uint8_t { Read, Write, Execute };

// The control-register state paging depends on.
struct PagingControl {
    uint64_t cr0 = 0;
    uint64_t cr3 = 0;
    uint64_t cr4 = 0;
    uint64_t efer = 0;
};

inline constexpr int kPhysicalAddressBits = 40;

// Page-fault error code bits (Intel SDM vol. 3, 4.7).
inline constexpr uint32_t kPfPresent = 1u << 0;
inline constexpr uint32_t kPfWrite = 1u << 1;
inline constexpr uint32_t kPfUser = 1u << 2;
inline constexpr uint32_t kPfReserved = 1u << 3;
inline constexpr uint32_t kPfFetch = 1u << 4;

struct Translation {
    bool ok = false;
    uint32_t error_code = 0; // when !ok: the #PF error code
    uint64_t physical = 0;   // when ok
    // Combined rights of the mapping (over all levels), for filling a TLB.
    bool writable = false;  // RW set at every level
    bool user = false;      // US set at every level
    bool executable = true; // no XD at any level (or NX disabled)
    bool global = false;
    bool dirty = false; // the final entry's D bit (after this access)
    uint64_t page_size = 4096;
};

struct PageWalkOptions {
    // Update accessed/dirty bits (false for debugger reads, which must not
    // change guest state).
    bool set_accessed_dirty = true;
    // Check the access rights (false for debugger access to any mapping).
    bool check_rights = true;
};

// Translate `linear` for an access by code at CPL 3 (`user`) or below.
// Paging disabled (CR0.PG = 0) maps linear to physical unchanged. The caller
// checks canonical form first: a non-canonical address is #GP, not #PF.
Translation walk_page_tables(GuestMemory& memory, const PagingControl& control, uint64_t linear,
                             Access access, bool user, PageWalkOptions options = {});

bool is_canonical(uint64_t linear);

} // namespace krr
