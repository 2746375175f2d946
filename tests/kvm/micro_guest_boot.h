// Puts a flat image into a machine's memory and returns the CPU state that
// enters it: long mode at CPL 0, the first 4 GiB identity mapped with 2 MiB
// pages, a flat 64-bit GDT, interrupts off (what the micro-guest expects).
#pragma once

#include "guest-model/guest_memory.h"
#include "guest-model/machine_state.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace krr::test {

inline constexpr uint64_t kMicroGuestAddress = 0x100000;

CpuState load_flat_image(GuestMemory& memory, std::span<const uint8_t> image, uint64_t address);
std::vector<uint8_t> read_binary(const std::string& path);

} // namespace krr::test
