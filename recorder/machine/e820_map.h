// The e820 memory map handed to the kernel in boot_params: usable RAM below
// the EBDA and from 1 MiB to the end of guest memory; the EBDA, the BIOS ROM
// area and the APIC windows reserved.
#pragma once

#include <cstdint>
#include <vector>

namespace krr {

enum class E820Type : uint32_t { Ram = 1, Reserved = 2 };

struct E820Entry {
    uint64_t address = 0;
    uint64_t size = 0;
    E820Type type = E820Type::Ram;

    bool operator==(const E820Entry&) const = default;
};

// Sorted by address, non-overlapping. Throws krr::Error when `memory_bytes`
// is below 2 MiB, above guest_layout::kMaxMemory or not page aligned.
std::vector<E820Entry> build_e820_map(uint64_t memory_bytes);

} // namespace krr
