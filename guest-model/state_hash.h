// The state hashes that prove a replay is the recorded execution: one over a
// vCPU's architectural state, one per 4 KiB page of guest memory, and one
// over all pages. A divergence shows up as a different hash, and the per-page
// hashes say which pages differ.
//
// The accessed bit (bit 5) of page-table entries is set by hardware in its
// own way (speculatively on real CPUs, differently under nested KVM), so the
// memory hash must not see it: pages are hashed with bit 5 of every aligned
// 8-byte word that looks like a present page-table entry cleared. Ordinary
// data with that bit pattern loses one bit of sensitivity, nothing more.
#pragma once

#include "guest-model/guest_memory.h"
#include "guest-model/machine_state.h"

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace krr {

uint64_t register_hash(const VcpuState& state);
// Every vCPU's: with one vCPU its register_hash, with several a hash of
// theirs in order.
uint64_t machine_register_hash(std::span<const VcpuState> vcpus);
std::vector<uint64_t> page_hashes(const GuestMemory& memory);
uint64_t memory_hash(const std::vector<uint64_t>& pages);
// One 4 KiB page's hash, accessed bits of entry-like words masked.
uint64_t page_hash(const uint8_t* page);

// What a KVM recording's final state is compared on: the state with
// instructions_retired cleared (the recorder does not know the count), and
// of an unusable segment only what is used of it (see state_hash.cpp).
VcpuState without_count(const VcpuState& state);
// Its register hash: KVM recordings store it.
uint64_t register_hash_without_count(const VcpuState& state);
// The same for a machine: every vCPU's registers without their counts
// (one vCPU: register_hash_without_count).
uint64_t machine_register_hash_without_counts(std::span<const VcpuState> vcpus);

// What a KVM recording's positions compare of memory (trace::StatePosition):
// the exact contents of some pages (their numbers and exact_page_hash, in
// the order given). Exact, because the accessed-bit masking of page_hash
// cannot tell a counter from itself 32 increments later, and a position
// must tell loop iterations apart.
uint64_t exact_page_hash(const uint8_t* page);
// Except page-table pages: a KVM sets accessed bits in its own time (this
// host's PVM when it builds shadow entries), so those pages are hashed
// with page_hash's masking. `page_tables`: their numbers, ascending.
uint64_t pages_hash(const GuestMemory& memory, std::span<const uint64_t> page_numbers,
                    std::span<const uint64_t> page_tables);
// The pages of the 4-level page tables at `cr3` (the top table and every
// table a present, non-leaf entry points to inside RAM), ascending.
std::vector<uint64_t> page_table_pages(const GuestMemory& memory, uint64_t cr3);
// The same over hashes already made: (page number, exact_page_hash) pairs.
uint64_t pages_hash(std::span<const std::pair<uint64_t, uint64_t>> numbered_hashes);

} // namespace krr
