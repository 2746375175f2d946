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
#include <vector>

namespace krr {

uint64_t register_hash(const VcpuState& state);
// Every vCPU's: with one vCPU its register_hash, with several a hash of
// theirs in order.
uint64_t machine_register_hash(std::span<const VcpuState> vcpus);
std::vector<uint64_t> page_hashes(const GuestMemory& memory);
uint64_t memory_hash(const std::vector<uint64_t>& pages);

} // namespace krr
