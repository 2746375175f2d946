#include "guest-model/trace/emulator_clock_state.h"

#include "guest-model/byte_codec.h"

namespace krr::trace {

namespace {

constexpr uint8_t kSeveralVcpusVersion = 1;

} // namespace

std::vector<uint8_t> encode_emulator_clock(const EmulatorClockState& state) {
    ByteWriter out;
    out.u64(state.vcpus.empty() ? 0 : state.vcpus[0].skipped);
    if (state.vcpus.size() > 1) {
        out.u8(kSeveralVcpusVersion);
        out.varint(state.vcpus.size());
        out.varint(state.current);
        for (const VcpuClockState& v : state.vcpus) {
            out.u64(v.skipped);
            out.u8(
                static_cast<uint8_t>((v.waiting_for_startup ? 1 : 0) | (v.nmi_requested ? 2 : 0)));
            out.varint(v.deliveries);
            out.u64(v.last_retired_rip);
        }
    }
    return out.take();
}

EmulatorClockState decode_emulator_clock(std::span<const uint8_t> data, size_t vcpus,
                                         const std::string& context) {
    ByteReader in(data, context);
    EmulatorClockState state;
    const uint64_t first_skipped = in.u64();
    if (vcpus <= 1) {
        in.expect_end();
        state.vcpus.push_back(VcpuClockState{first_skipped, false, false, 0, ~0ULL});
        return state;
    }
    const uint8_t version = in.u8();
    if (version != kSeveralVcpusVersion) {
        in.fail("emulator clock version " + std::to_string(version));
    }
    const uint64_t count = in.count(11);
    if (count != vcpus) {
        in.fail("clock state for " + std::to_string(count) + " vCPUs, the snapshot has " +
                std::to_string(vcpus));
    }
    const uint64_t current = in.varint();
    if (current >= count) {
        in.fail("current vCPU " + std::to_string(current) + " of " + std::to_string(count));
    }
    state.current = static_cast<uint32_t>(current);
    for (uint64_t i = 0; i < count; ++i) {
        VcpuClockState v;
        v.skipped = in.u64();
        const uint8_t flags = in.u8();
        if (flags & ~3u) {
            in.fail("unknown vCPU flags " + std::to_string(flags));
        }
        v.waiting_for_startup = flags & 1;
        v.nmi_requested = flags & 2;
        const uint64_t deliveries = in.varint();
        if (deliveries > UINT32_MAX) {
            in.fail("deliveries out of range");
        }
        v.deliveries = static_cast<uint32_t>(deliveries);
        v.last_retired_rip = in.u64();
        state.vcpus.push_back(v);
    }
    in.expect_end();
    if (state.vcpus[0].skipped != first_skipped) {
        in.fail("vCPU 0's skipped time is stored twice, differently");
    }
    return state;
}

} // namespace krr::trace
