// The snapshot's "emulator-clock" device entry: what the emulator keeps per
// vCPU besides its VcpuState (time skipped while halted, waiting for
// STARTUP, the position detail of a vCPU that is not running) and which
// vCPU runs. A one-vCPU machine writes only vCPU 0's skipped time (u64), as
// traces always had; several vCPUs append a versioned part (docs/smp.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace krr::trace {

struct VcpuClockState {
    uint64_t skipped = 0; // instructions' worth of time skipped
    bool waiting_for_startup = false;
    bool nmi_requested = false;
    uint32_t deliveries = 0; // exceptions delivered since its last instruction retired
    uint64_t last_retired_rip = ~0ULL;

    bool operator==(const VcpuClockState&) const = default;
};

struct EmulatorClockState {
    uint32_t current = 0;
    std::vector<VcpuClockState> vcpus;

    bool operator==(const EmulatorClockState&) const = default;
};

std::vector<uint8_t> encode_emulator_clock(const EmulatorClockState& state);
// `vcpus`: how many the snapshot has. Throws krr::Error on anything malformed
// or inconsistent with that count.
EmulatorClockState decode_emulator_clock(std::span<const uint8_t> data, size_t vcpus,
                                         const std::string& context);

} // namespace krr::trace
