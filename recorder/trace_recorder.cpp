#include "recorder/trace_recorder.h"

#include "guest-model/byte_codec.h"
#include "guest-model/error.h"
#include "guest-model/state_hash.h"
#include "guest-model/trace/emulator_clock_state.h"
#include "guest-model/trace/snapshot_codec.h"

namespace krr {

trace::StateHashRecord state_hash_record(std::span<const VcpuState> vcpus, unsigned current,
                                         uint64_t machine_instructions, const GuestMemory& memory) {
    const VcpuState& vcpu = vcpus[current];
    trace::StateHashRecord h;
    h.vcpu = vcpu.id;
    h.instruction_count = machine_instructions;
    h.register_hash = machine_register_hash(vcpus);
    h.page_hashes = page_hashes(memory);
    h.memory_hash = memory_hash(h.page_hashes);
    h.vcpu_state = trace::encode_vcpu_state(vcpu);
    if (vcpus.size() > 1) {
        for (size_t i = 0; i < vcpus.size(); ++i) {
            if (i != current) {
                h.other_vcpu_states.push_back(trace::encode_vcpu_state(vcpus[i]));
            }
        }
    }
    return h;
}

TraceRecorder::TraceRecorder(const std::string& path, trace::TraceMetadata metadata,
                             Machine& machine, EmulatorAccelerator& accelerator)
    : machine_(machine), accelerator_(accelerator) {
    // Replay starts with an empty TLB; so must the recorded run from here,
    // because cached translations are guest-visible (an accessed bit the
    // guest cleared without INVLPG is not set again through a cached one).
    accelerator.interpreter().memory().tlb().flush_all();
    writer_ = std::make_unique<trace::TraceWriter>(path, std::move(metadata));
    GuestMemory& ram = machine.memory();
    writer_->write_memory(std::span<const uint8_t>(ram.base(), ram.size()));
    for (unsigned i = 0; i < machine.vcpu_count(); ++i) {
        writer_->write_vcpu(machine.vcpu(i));
    }
    for (const trace::DeviceState& device : machine.save_devices()) {
        writer_->write_device(device);
    }
    writer_->write_device(
        {kEmulatorClockDevice, trace::encode_emulator_clock(accelerator.clock_state())});
    writer_->finish_snapshot();
    start_instruction_ = accelerator.machine_instructions();
    pending_console_.instruction_count = start_instruction_;
}

TraceRecorder::~TraceRecorder() {
    if (!finished_) {
        try {
            flush_console();
            writer_->close(); // readable, marked incomplete
        } catch (...) {
        }
    }
}

void TraceRecorder::flush_console() {
    if (!pending_console_.bytes.empty()) {
        writer_->append(pending_console_);
        pending_console_.bytes.clear();
    }
}

void TraceRecorder::input(const trace::InputRecord& record) {
    flush_console();
    writer_->append(record);
    ++inputs_;
}

void TraceRecorder::console(uint8_t byte) {
    if (pending_console_.bytes.empty()) {
        pending_console_.instruction_count =
            unresolved_ ? trace::kUnresolvedCount : accelerator_.machine_instructions();
    }
    pending_console_.bytes.push_back(byte);
    if (byte == '\n' || pending_console_.bytes.size() >= 4096) {
        flush_console();
    }
}

void TraceRecorder::checkpoint() {
    flush_console();
    std::vector<VcpuState> vcpus;
    for (unsigned i = 0; i < machine_.vcpu_count(); ++i) {
        vcpus.push_back(machine_.vcpu(i));
    }
    writer_->append(state_hash_record(vcpus, accelerator_.current_vcpu(),
                                      accelerator_.machine_instructions(), machine_.memory()));
}

void TraceRecorder::finish(const std::string& reason, std::optional<uint32_t> exit_status,
                           std::optional<trace::StatePosition> position, unsigned current_vcpu) {
    trace::RecordEnd end;
    if (unresolved_) {
        flush_console();
        // What the emulator's count would say is unknown here: the hash
        // leaves it out (ReplaySession compares KVM recordings that way).
        std::vector<VcpuState> vcpus;
        for (unsigned i = 0; i < machine_.vcpu_count(); ++i) {
            vcpus.push_back(machine_.vcpu(i));
        }
        trace::StateHashRecord h =
            state_hash_record(vcpus, current_vcpu, trace::kUnresolvedCount, machine_.memory());
        h.register_hash = machine_register_hash_without_counts(vcpus);
        writer_->append(h);
        end.final_instruction_count = trace::kUnresolvedCount;
        end.position = std::move(position);
    } else {
        checkpoint();
        end.final_instruction_count = accelerator_.machine_instructions();
    }
    end.reason = reason;
    end.exit_status = exit_status;
    writer_->finish(end);
    finished_ = true;
}

} // namespace krr
