// What a trace says about the machine and the run it recorded. Stored as
// tagged fields so a later version can add fields that this one skips.
#pragma once

#include "guest-model/cpuid_table.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace krr::trace {

inline constexpr uint64_t kMaxMemorySize = 1ULL << 40;
inline constexpr uint32_t kMaxVcpus = 256;

struct KernelIdentity {
    std::string path;         // as given to the recorder
    std::string version;      // the kernel's own version string
    std::string content_hash; // content_hash_hex() of the image

    bool operator==(const KernelIdentity&) const = default;
};

struct TraceMetadata {
    uint32_t format_version = 0; // filled in by the writer
    std::string krr_version;
    KernelIdentity kernel;
    std::string kernel_command_line;
    std::vector<std::string> guest_command; // argv of CMD
    CpuidTable cpuid;
    uint64_t memory_size = 0; // bytes, a multiple of 4 KiB
    uint32_t vcpu_count = 0;
    std::string accelerator; // "kvm" or "tcg"
    // Optional: how the KVM that recorded ran the guest's kernel mode when
    // that differs from the CPU: "pvm" (PVM, whose kernel mode is KVM's
    // instruction emulator: ROL/ROR by an immediate write OF, as the CL
    // form does on the CPU). Empty otherwise.
    std::string kvm_flavor;
    uint64_t creation_time = 0; // seconds since the Unix epoch

    bool operator==(const TraceMetadata&) const = default;
};

std::vector<uint8_t> encode_metadata(const TraceMetadata& metadata);
// Throws krr::Error when a mandatory field is missing, repeated or malformed,
// or a value is out of range (memory size, vCPU count, version).
TraceMetadata decode_metadata(std::span<const uint8_t> payload);
// The range checks decode_metadata applies, for the writer to apply first.
void validate_metadata(const TraceMetadata& metadata);

} // namespace krr::trace
