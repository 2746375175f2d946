// Test tool: copy a trace, changing the value of its Nth input or dropping
// it, so the fault-injection test can check that replay --verify notices;
// or (vcpu-state) changing vCPU N's R15 in the last state hash, whose
// register hash is made again, so that verification must name that vCPU.
// Usage: trace_mutate IN OUT (change|drop|vcpu-state) N
#include "guest-model/error.h"
#include "guest-model/guest_memory.h"
#include "guest-model/state_hash.h"
#include "guest-model/trace/snapshot_codec.h"
#include "guest-model/trace/trace_reader.h"
#include "guest-model/trace/trace_writer.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// The record with vCPU `id`'s state changed (R15 ^ 1) and the register hash
// made again the way the recorder makes it. False when it has no such vCPU.
bool change_vcpu_state(krr::trace::StateHashRecord& h, uint32_t id, bool counts_unknown) {
    std::vector<krr::VcpuState> vcpus{krr::trace::decode_vcpu_state(h.vcpu_state)};
    for (const auto& state : h.other_vcpu_states) {
        vcpus.push_back(krr::trace::decode_vcpu_state(state));
    }
    bool changed = false;
    for (krr::VcpuState& v : vcpus) {
        if (v.id == id) {
            v.cpu.gpr[krr::R15] ^= 1;
            changed = true;
        }
    }
    h.vcpu_state = krr::trace::encode_vcpu_state(vcpus[0]);
    for (size_t i = 1; i < vcpus.size(); ++i) {
        h.other_vcpu_states[i - 1] = krr::trace::encode_vcpu_state(vcpus[i]);
    }
    std::vector<krr::VcpuState> ordered(vcpus.size());
    for (const krr::VcpuState& v : vcpus) {
        if (v.id >= ordered.size()) {
            return false;
        }
        ordered[v.id] = v;
    }
    h.register_hash = counts_unknown ? krr::machine_register_hash_without_counts(ordered)
                                     : krr::machine_register_hash(ordered);
    return changed;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: trace_mutate IN OUT (change|drop|vcpu-state) N\n");
        return 2;
    }
    const std::string mode = argv[3];
    const uint64_t target = std::strtoull(argv[4], nullptr, 10);
    try {
        krr::trace::TraceReader in(argv[1]);
        krr::GuestMemory memory(in.metadata().memory_size);
        krr::trace::LoadedSnapshot snapshot = in.load_snapshot(memory);
        krr::trace::TraceWriter out(argv[2], in.metadata());
        out.write_memory(std::span<const uint8_t>(memory.base(), memory.size()));
        for (const auto& vcpu : snapshot.vcpus) {
            out.write_vcpu(vcpu);
        }
        for (const auto& device : snapshot.devices) {
            out.write_device(device);
        }
        out.finish_snapshot();
        // The last state hash's place, for vcpu-state.
        uint64_t hashes = 0;
        {
            krr::trace::LogReader count = in.log();
            while (auto record = count.next()) {
                hashes += std::holds_alternative<krr::trace::StateHashRecord>(*record);
            }
        }
        const bool counts_unknown = in.metadata().accelerator == "kvm";
        krr::trace::LogReader log = in.log();
        uint64_t index = 0, hash_index = 0;
        bool done = false;
        while (auto record = log.next()) {
            if (auto* h = std::get_if<krr::trace::StateHashRecord>(&*record)) {
                if (mode == "vcpu-state" && ++hash_index == hashes) {
                    if (!change_vcpu_state(*h, static_cast<uint32_t>(target), counts_unknown)) {
                        std::fprintf(stderr, "trace_mutate: the last state hash has no vCPU %llu\n",
                                     static_cast<unsigned long long>(target));
                        return 1;
                    }
                    done = true;
                    std::printf("vcpu-state: vCPU %llu's r15 changed at instruction %llu\n",
                                static_cast<unsigned long long>(target),
                                static_cast<unsigned long long>(h->instruction_count));
                }
            }
            if (auto* end = std::get_if<krr::trace::RecordEnd>(&*record)) {
                out.finish(*end);
                break;
            }
            if (auto* input = std::get_if<krr::trace::InputRecord>(&*record);
                input && mode != "vcpu-state") {
                if (index++ == target) {
                    done = true;
                    std::printf("%s input %llu: %s at instruction %llu\n", mode.c_str(),
                                static_cast<unsigned long long>(target),
                                krr::trace::input_kind_name(input->kind).c_str(),
                                static_cast<unsigned long long>(input->instruction_count));
                    if (mode == "drop") {
                        continue;
                    }
                    input->value ^= 1;
                }
            }
            out.append(*record);
        }
        if (!done) {
            if (mode == "vcpu-state") {
                std::fprintf(stderr, "trace_mutate: the trace has no state hash\n");
            } else {
                std::fprintf(stderr, "trace_mutate: the trace has fewer than %llu inputs\n",
                             static_cast<unsigned long long>(target + 1));
            }
            return 1;
        }
    } catch (const krr::Error& e) {
        std::fprintf(stderr, "trace_mutate: %s\n", e.what());
        return 1;
    }
    return 0;
}
