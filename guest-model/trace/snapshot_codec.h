// The payloads of snapshot chunks: guest memory as runs of non-zero 4 KiB
// pages, one vCPU's complete state, one device's opaque state, and the
// closing totals that let a reader tell a whole snapshot from a cut one.
#pragma once

#include "guest-model/byte_codec.h"
#include "guest-model/machine_state.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace krr::trace {

inline constexpr uint64_t kSnapshotPageSize = 4096;
// Memory chunks are cut near this much page data: big enough to compress
// well, small enough that a cut-off snapshot loses little.
inline constexpr size_t kMemoryChunkTarget = 1 << 20;
inline constexpr size_t kMaxDeviceStateBytes = 16 << 20;

struct MemoryRun {
    uint64_t first_page = 0;    // guest-physical address / 4096
    std::vector<uint8_t> bytes; // a whole number of pages

    uint64_t page_count() const { return bytes.size() / kSnapshotPageSize; }
    bool operator==(const MemoryRun&) const = default;
};

struct DeviceState {
    std::string name;
    std::vector<uint8_t> data;

    bool operator==(const DeviceState&) const = default;
};

struct SnapshotEnd {
    uint64_t pages = 0; // non-zero pages stored
    uint32_t vcpus = 0;
    uint32_t devices = 0;

    bool operator==(const SnapshotEnd&) const = default;
};

// Appends one run to a memory chunk payload being built.
void encode_memory_run(ByteWriter& w, uint64_t first_page, std::span<const uint8_t> pages);
// Throws krr::Error when a run is empty, out of order (each run starts after
// the previous one ends, also across chunks: `next_page` carries the end of
// the previous run in and out) or beyond `memory_size`.
std::vector<MemoryRun> decode_memory_chunk(std::span<const uint8_t> payload, uint64_t memory_size,
                                           uint64_t& next_page);

std::vector<uint8_t> encode_vcpu_state(const VcpuState& state);
VcpuState decode_vcpu_state(std::span<const uint8_t> payload);

std::vector<uint8_t> encode_device_state(const DeviceState& device);
DeviceState decode_device_state(std::span<const uint8_t> payload);

std::vector<uint8_t> encode_snapshot_end(const SnapshotEnd& end);
SnapshotEnd decode_snapshot_end(std::span<const uint8_t> payload);

} // namespace krr::trace
