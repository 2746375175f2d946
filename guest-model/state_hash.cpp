#include "guest-model/state_hash.h"

#include "guest-model/checksum.h"
#include "guest-model/trace/snapshot_codec.h"

#include <cstring>

namespace krr {

uint64_t register_hash(const VcpuState& state) {
    // The snapshot encoding is canonical (no padding bytes), so equal states
    // hash equal.
    return checksum64(trace::encode_vcpu_state(state));
}

uint64_t machine_register_hash(std::span<const VcpuState> vcpus) {
    if (vcpus.size() == 1) {
        return register_hash(vcpus[0]);
    }
    std::vector<uint8_t> hashes;
    for (const VcpuState& vcpu : vcpus) {
        const uint64_t h = register_hash(vcpu);
        for (int i = 0; i < 8; ++i) {
            hashes.push_back(static_cast<uint8_t>(h >> (8 * i)));
        }
    }
    return checksum64(hashes);
}

std::vector<uint64_t> page_hashes(const GuestMemory& memory) {
    const uint64_t pages = memory.size() / kPageSize;
    std::vector<uint64_t> out(pages);
    uint64_t masked[kPageSize / 8];
    for (uint64_t i = 0; i < pages; ++i) {
        const uint8_t* page = memory.base() + i * kPageSize;
        std::memcpy(masked, page, kPageSize);
        for (uint64_t& word : masked) {
            // Present (bit 0) entries: ignore the accessed bit.
            if (word & 1) {
                word &= ~(1ULL << 5);
            }
        }
        out[i] = checksum64(std::span(reinterpret_cast<const uint8_t*>(masked), kPageSize));
    }
    return out;
}

uint64_t memory_hash(const std::vector<uint64_t>& pages) {
    return checksum64(std::span(reinterpret_cast<const uint8_t*>(pages.data()), pages.size() * 8));
}

} // namespace krr
