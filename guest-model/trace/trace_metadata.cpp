#include "guest-model/trace/trace_metadata.h"

#include "guest-model/byte_codec.h"
#include "guest-model/error.h"
#include "guest-model/trace/chunk_format.h"

#include <set>

namespace krr::trace {

namespace {

// Tags are forever: never reuse a number for another meaning.
enum Tag : uint16_t {
    kTagFormatVersion = 1,
    kTagKrrVersion = 2,
    kTagKernelPath = 3,
    kTagKernelVersion = 4,
    kTagKernelHash = 5,
    kTagKernelCommandLine = 6,
    kTagGuestCommand = 7,
    kTagCpuid = 8,
    kTagMemorySize = 9,
    kTagVcpuCount = 10,
    kTagAccelerator = 11,
    kTagCreationTime = 12,
    kTagKvmFlavor = 13, // optional
};
constexpr uint16_t kLastMandatoryTag = kTagCreationTime;

const char* tag_name(uint16_t tag) {
    static const char* const names[] = {
        "?",           "format version",      "krr version",   "kernel path", "kernel version",
        "kernel hash", "kernel command line", "guest command", "CPUID table", "memory size",
        "vCPU count",  "accelerator",         "creation time",
    };
    return tag <= kLastMandatoryTag ? names[tag] : "unknown";
}

constexpr size_t kMaxStringField = 64 * 1024;
constexpr size_t kCpuidEntryBytes = 4 + 4 + 1 + 4 * 4;

void field(ByteWriter& w, Tag tag, const ByteWriter& body) {
    w.u16(tag);
    w.blob(body.data());
}

void string_field(ByteWriter& w, Tag tag, const std::string& s) {
    w.u16(tag);
    w.string(s);
}

std::string string_value(std::span<const uint8_t> body) {
    return std::string(body.begin(), body.end());
}

} // namespace

void validate_metadata(const TraceMetadata& m) {
    const std::string what = "trace metadata";
    if (m.memory_size == 0 || m.memory_size % 4096 != 0 || m.memory_size > kMaxMemorySize) {
        throw Error(what, "memory size " + std::to_string(m.memory_size) +
                              " is not a multiple of 4 KiB between 4 KiB and 1 TiB");
    }
    if (m.vcpu_count == 0 || m.vcpu_count > kMaxVcpus) {
        throw Error(what, "vCPU count " + std::to_string(m.vcpu_count) + " is not between 1 and " +
                              std::to_string(kMaxVcpus));
    }
    if (!m.kvm_flavor.empty() && (m.kvm_flavor != "pvm" || m.accelerator != "kvm")) {
        throw Error(what, "KVM flavour '" + m.kvm_flavor.substr(0, 64) +
                              "' is not 'pvm' on a recording under KVM");
    }
}

std::vector<uint8_t> encode_metadata(const TraceMetadata& m) {
    ByteWriter w;
    ByteWriter v;
    v.u32(kFormatVersion);
    field(w, kTagFormatVersion, v);
    string_field(w, kTagKrrVersion, m.krr_version);
    string_field(w, kTagKernelPath, m.kernel.path);
    string_field(w, kTagKernelVersion, m.kernel.version);
    string_field(w, kTagKernelHash, m.kernel.content_hash);
    string_field(w, kTagKernelCommandLine, m.kernel_command_line);

    ByteWriter argv;
    argv.varint(m.guest_command.size());
    for (const auto& a : m.guest_command) {
        argv.string(a);
    }
    field(w, kTagGuestCommand, argv);

    ByteWriter cpuid;
    cpuid.varint(m.cpuid.entries.size());
    for (const auto& e : m.cpuid.entries) {
        cpuid.u32(e.leaf);
        cpuid.u32(e.subleaf);
        cpuid.u8(e.indexed ? 1 : 0);
        cpuid.u32(e.eax);
        cpuid.u32(e.ebx);
        cpuid.u32(e.ecx);
        cpuid.u32(e.edx);
    }
    field(w, kTagCpuid, cpuid);

    ByteWriter mem;
    mem.u64(m.memory_size);
    field(w, kTagMemorySize, mem);
    ByteWriter vcpus;
    vcpus.u32(m.vcpu_count);
    field(w, kTagVcpuCount, vcpus);
    string_field(w, kTagAccelerator, m.accelerator);
    ByteWriter time;
    time.u64(m.creation_time);
    field(w, kTagCreationTime, time);
    if (!m.kvm_flavor.empty()) {
        string_field(w, kTagKvmFlavor, m.kvm_flavor);
    }
    return w.take();
}

TraceMetadata decode_metadata(std::span<const uint8_t> payload) {
    TraceMetadata m;
    std::set<uint16_t> seen;
    ByteReader r(payload, "trace metadata");
    while (!r.at_end()) {
        uint16_t tag = r.u16();
        auto body = r.blob(payload.size());
        if (!seen.insert(tag).second) {
            r.fail("field " + std::to_string(tag) + " (" + tag_name(tag) + ") appears twice");
        }
        ByteReader f(body, "trace metadata field " + std::to_string(tag));
        switch (tag) {
        case kTagFormatVersion:
            m.format_version = f.u32();
            break;
        case kTagKrrVersion:
            m.krr_version = string_value(f.bytes(f.remaining()));
            break;
        case kTagKernelPath:
            m.kernel.path = string_value(f.bytes(f.remaining()));
            break;
        case kTagKernelVersion:
            m.kernel.version = string_value(f.bytes(f.remaining()));
            break;
        case kTagKernelHash:
            m.kernel.content_hash = string_value(f.bytes(f.remaining()));
            break;
        case kTagKernelCommandLine:
            m.kernel_command_line = string_value(f.bytes(f.remaining()));
            break;
        case kTagGuestCommand: {
            uint64_t n = f.count(1);
            for (uint64_t i = 0; i < n; ++i) {
                m.guest_command.push_back(f.string(kMaxStringField));
            }
            break;
        }
        case kTagCpuid: {
            uint64_t n = f.count(kCpuidEntryBytes);
            for (uint64_t i = 0; i < n; ++i) {
                CpuidEntry e;
                e.leaf = f.u32();
                e.subleaf = f.u32();
                uint8_t indexed = f.u8();
                if (indexed > 1) {
                    f.fail("CPUID entry flag " + std::to_string(indexed) + " is not 0 or 1");
                }
                e.indexed = indexed == 1;
                e.eax = f.u32();
                e.ebx = f.u32();
                e.ecx = f.u32();
                e.edx = f.u32();
                m.cpuid.entries.push_back(e);
            }
            break;
        }
        case kTagMemorySize:
            m.memory_size = f.u64();
            break;
        case kTagVcpuCount:
            m.vcpu_count = f.u32();
            break;
        case kTagAccelerator:
            m.accelerator = string_value(f.bytes(f.remaining()));
            break;
        case kTagCreationTime:
            m.creation_time = f.u64();
            break;
        case kTagKvmFlavor:
            m.kvm_flavor = string_value(f.bytes(f.remaining()));
            break;
        default:
            // A field from a later writer: its length lets us step over it.
            continue;
        }
        f.expect_end();
    }
    for (uint16_t tag = kTagFormatVersion; tag <= kLastMandatoryTag; ++tag) {
        if (!seen.count(tag)) {
            throw Error("trace metadata", "mandatory field " + std::to_string(tag) + " (" +
                                              tag_name(tag) + ") is missing");
        }
    }
    if (m.format_version != kFormatVersion) {
        throw Error("trace metadata", "format version " + std::to_string(m.format_version) +
                                          " is not supported (this krr reads version " +
                                          std::to_string(kFormatVersion) + ")");
    }
    validate_metadata(m);
    return m;
}

} // namespace krr::trace
