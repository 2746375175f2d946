// The loadable view of an ELF64 x86-64 executable (the kernel's vmlinux):
// its entry point and PT_LOAD segments, validated so that every segment's
// file bytes lie inside the file. Parsed with libelf.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace krr {

struct ElfSegment {
    uint64_t physical_address = 0;
    uint64_t virtual_address = 0;
    uint64_t file_offset = 0;
    uint64_t file_size = 0;
    uint64_t memory_size = 0; // >= file_size; the rest is zero-filled
};

struct ElfImage {
    uint64_t entry = 0;
    std::vector<ElfSegment> segments;
};

// Throws krr::Error("<name>", why) for anything that is not a well-formed
// little-endian x86-64 ELF64 executable with at least one PT_LOAD segment.
ElfImage parse_elf_image(std::span<const uint8_t> bytes, const std::string& name);

} // namespace krr
