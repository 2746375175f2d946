#include "guest-model/state_hash.h"

#include "guest-model/checksum.h"
#include "guest-model/trace/snapshot_codec.h"

#include <algorithm>
#include <cstring>

namespace krr {

uint64_t register_hash(const VcpuState& state) {
    // The snapshot encoding is canonical (no padding bytes), so equal states
    // hash equal.
    return checksum64(trace::encode_vcpu_state(state));
}

namespace {

// One vCPU's hash as it is; several vCPUs': the checksum of theirs in order.
uint64_t combine_vcpu_hashes(std::span<const VcpuState> vcpus,
                             uint64_t (*vcpu_hash)(const VcpuState&)) {
    if (vcpus.size() == 1) {
        return vcpu_hash(vcpus[0]);
    }
    std::vector<uint8_t> hashes;
    for (const VcpuState& vcpu : vcpus) {
        const uint64_t h = vcpu_hash(vcpu);
        for (int i = 0; i < 8; ++i) {
            hashes.push_back(static_cast<uint8_t>(h >> (8 * i)));
        }
    }
    return checksum64(hashes);
}

} // namespace

uint64_t machine_register_hash(std::span<const VcpuState> vcpus) {
    return combine_vcpu_hashes(vcpus, register_hash);
}

uint64_t machine_register_hash_without_counts(std::span<const VcpuState> vcpus) {
    return combine_vcpu_hashes(vcpus, register_hash_without_count);
}

uint64_t page_hash(const uint8_t* page) {
    uint64_t masked[kPageSize / 8];
    std::memcpy(masked, page, kPageSize);
    for (uint64_t& word : masked) {
        // Present (bit 0) entries: ignore the accessed bit.
        if (word & 1) {
            word &= ~(1ULL << 5);
        }
    }
    return checksum64(std::span(reinterpret_cast<const uint8_t*>(masked), kPageSize));
}

std::vector<uint64_t> page_hashes(const GuestMemory& memory) {
    const uint64_t pages = memory.size() / kPageSize;
    std::vector<uint64_t> out(pages);
    for (uint64_t i = 0; i < pages; ++i) {
        out[i] = page_hash(memory.base() + i * kPageSize);
    }
    return out;
}

uint64_t memory_hash(const std::vector<uint64_t>& pages) {
    return checksum64(std::span(reinterpret_cast<const uint8_t*>(pages.data()), pages.size() * 8));
}

VcpuState without_count(const VcpuState& state) {
    VcpuState copy = state;
    copy.instructions_retired = 0;
    // A KVM reports the hidden part of an unusable (null) segment its own
    // way (this host's PVM: SS.B clear where krr's delivery sets it): only
    // what is used of one counts, its selector, SS's DPL and FS/GS's base.
    for (int i = 0; i < kSegmentCount; ++i) {
        Segment& s = copy.cpu.seg[i];
        if (s.unusable) {
            Segment kept{};
            kept.selector = s.selector;
            kept.unusable = 1;
            kept.dpl = i == SS ? s.dpl : 0;
            kept.base = i == FS || i == GS ? s.base : 0;
            s = kept;
        }
    }
    return copy;
}

uint64_t register_hash_without_count(const VcpuState& state) {
    return register_hash(without_count(state));
}

uint64_t exact_page_hash(const uint8_t* page) {
    return checksum64(std::span(page, kPageSize));
}

uint64_t pages_hash(std::span<const std::pair<uint64_t, uint64_t>> numbered_hashes) {
    std::vector<uint64_t> words;
    words.reserve(numbered_hashes.size() * 2);
    for (const auto& [number, hash] : numbered_hashes) {
        words.push_back(number);
        words.push_back(hash);
    }
    return checksum64(std::span(reinterpret_cast<const uint8_t*>(words.data()), words.size() * 8));
}

uint64_t pages_hash(const GuestMemory& memory, std::span<const uint64_t> page_numbers,
                    std::span<const uint64_t> page_tables) {
    std::vector<std::pair<uint64_t, uint64_t>> numbered;
    numbered.reserve(page_numbers.size());
    const uint64_t ram_pages = memory.size() / kPageSize;
    for (uint64_t number : page_numbers) {
        uint64_t hash = 0; // beyond RAM: the recorder never lists such a page
        if (number < ram_pages) {
            const uint8_t* page = memory.base() + number * kPageSize;
            hash = std::binary_search(page_tables.begin(), page_tables.end(), number)
                       ? page_hash(page)
                       : exact_page_hash(page);
        }
        numbered.emplace_back(number, hash);
    }
    return pages_hash(numbered);
}

std::vector<uint64_t> page_table_pages(const GuestMemory& memory, uint64_t cr3) {
    constexpr uint64_t kAddress = 0x000f'ffff'ffff'f000ULL;
    constexpr uint64_t kPresent = 1, kLarge = 1ULL << 7;
    const uint64_t ram_pages = memory.size() / kPageSize;
    std::vector<uint64_t> tables;
    std::vector<uint64_t> level{(cr3 & kAddress) / kPageSize};
    // PML4, then PDPTs, PDs and PTs: a large entry at PDPT or PD level maps
    // memory, not a table.
    for (int depth = 0; depth < 4; ++depth) {
        std::vector<uint64_t> next;
        for (uint64_t table : level) {
            if (table >= ram_pages) {
                continue;
            }
            tables.push_back(table);
            if (depth == 3) {
                continue; // a PT: its entries map pages
            }
            uint64_t entries[kPageSize / 8];
            std::memcpy(entries, memory.base() + table * kPageSize, kPageSize);
            for (uint64_t e : entries) {
                if ((e & kPresent) && !(depth > 0 && (e & kLarge))) {
                    next.push_back((e & kAddress) / kPageSize);
                }
            }
        }
        std::sort(next.begin(), next.end());
        next.erase(std::unique(next.begin(), next.end()), next.end());
        level = std::move(next);
    }
    std::sort(tables.begin(), tables.end());
    tables.erase(std::unique(tables.begin(), tables.end()), tables.end());
    return tables;
}

} // namespace krr
