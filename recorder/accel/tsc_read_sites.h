// Where the guest kernel reads the TSC. Recording under KVM needs every
// guest read of the TSC to reach the recorder (docs/kvm.md, "The plan for
// recording"), so at record start the recorder rewrites each RDTSC and RDTSCP
// in the kernel's text into an instruction that traps. This finds them: it
// decodes the text symbol by symbol with krr's own decoder, from the guest's
// memory as the kernel left it (alternatives applied), never from bytes that
// merely look like an RDTSC inside another instruction.
#pragma once

#include "guest-model/guest_memory.h"
#include "guest-model/symbols.h"

#include <cstdint>
#include <vector>

namespace krr {

struct TscReadSite {
    uint64_t virtual_address = 0;  // of the instruction
    uint64_t physical_address = 0; // of its first byte
    // The instruction's length: 2 for RDTSC (0f 31), 3 for RDTSCP (0f 01 f9),
    // more only if prefixed (the kernel never prefixes them). An instruction
    // that crosses a page boundary continues at the translation of the next
    // page, not necessarily at physical_address + 1.
    uint8_t length = 0;
    bool rdtscp = false;
};

struct TscReadScan {
    std::vector<TscReadSite> sites; // sorted by virtual address, no duplicates
    // CPUID instructions, found on the same pass (rdtscp false): a KVM may
    // answer CPUID in the guest's kernel with the host's features (this
    // host's PVM does), so the recorder traps these too.
    std::vector<TscReadSite> cpuid_sites;
    // FXSAVE instructions (fxsave, fxsave64), likewise: this host's PVM,
    // executing one in the guest's kernel, leaves bytes 416-463 of the area
    // zero where the CPU leaves what was there (docs/kvm.md), and Linux
    // writes a signal frame's FPU image with it; the recorder traps these too.
    std::vector<TscReadSite> fxsave_sites;
    // Text ranges considered (distinct start addresses), unmapped ones included.
    uint64_t symbols_scanned = 0;
    uint64_t instructions_decoded = 0;
    // Text ranges whose first byte is not mapped (or mapped not executable): skipped.
    uint64_t symbols_unmapped = 0;
    // Text ranges whose decoding ran into an unmapped page before their end.
    uint64_t scans_cut_by_unmapped_page = 0;
    // Text ranges whose decoding stopped at bytes the decoder rejects (data
    // or padding inside text): the rest of that range is not searched.
    uint64_t decode_errors = 0;
};

// Every RDTSC and RDTSCP in the guest's text. Each text symbol of `symbols`
// (nm types T, t, W, w) is decoded from its address to the next symbol's
// (at most SymbolTable::default_max_offset bytes), reading guest memory
// through the 4-level page tables at `cr3` without side effects: no
// accessed or dirty bit is set, nothing in guest memory changes. Pages
// mapped no-execute are treated as not mapped (they cannot hold code that
// runs). When the table has both _stext and _etext, only text in
// [_stext, _etext) is searched: Linux frees its init text after boot and
// reuses that memory for data, which patching would corrupt. Odd input
// (unmapped pages, garbage bytes, a symbol table of anything) is counted,
// never thrown; throws krr::Error only when the page table at `cr3` is not
// in guest RAM.
TscReadScan find_tsc_read_sites(const GuestMemory& memory, uint64_t cr3,
                                const SymbolTable& symbols);

} // namespace krr
