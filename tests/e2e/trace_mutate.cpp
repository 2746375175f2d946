// Test tool: copy a trace, changing the value of its Nth input or dropping
// it, so the fault-injection test can check that replay --verify notices.
// Usage: trace_mutate IN OUT (change|drop) N
#include "guest-model/error.h"
#include "guest-model/guest_memory.h"
#include "guest-model/trace/trace_reader.h"
#include "guest-model/trace/trace_writer.h"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: trace_mutate IN OUT (change|drop) N\n");
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
        krr::trace::LogReader log = in.log();
        uint64_t index = 0;
        bool done = false;
        while (auto record = log.next()) {
            if (auto* end = std::get_if<krr::trace::RecordEnd>(&*record)) {
                out.finish(*end);
                break;
            }
            if (auto* input = std::get_if<krr::trace::InputRecord>(&*record)) {
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
            std::fprintf(stderr, "trace_mutate: the trace has fewer than %llu inputs\n",
                         static_cast<unsigned long long>(target + 1));
            return 1;
        }
    } catch (const krr::Error& e) {
        std::fprintf(stderr, "trace_mutate: %s\n", e.what());
        return 1;
    }
    return 0;
}
