#include "replay-engine/replay/trace_replayer.h"

#include "guest-model/byte_codec.h"
#include "guest-model/error.h"
#include "guest-model/state_hash.h"
#include "guest-model/symbols.h"
#include "guest-model/trace/snapshot_codec.h"
#include "guest-model/trace/trace_reader.h"
#include "guest-model/virtual_clock.h"
#include "replay-engine/interpreter/interpreter.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

namespace krr {

namespace {

// The device-state entry the recorder writes for the emulator's clock.
constexpr const char* kEmulatorClockDevice = "emulator-clock";
// COM1, whose transmit register is the console.
constexpr uint16_t kConsolePort = 0x3f8;
constexpr uint64_t kProgressInterval = 10'000'000;

struct Divergence {
    std::string what;
};

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string describe_input(const trace::InputRecord& in) {
    std::ostringstream o;
    o << trace::input_kind_name(in.kind) << " at instruction " << in.instruction_count << " (RIP "
      << hex(in.rip) << ")";
    switch (static_cast<trace::InputKind>(in.kind)) {
    case trace::InputKind::PortRead:
        o << " of port " << hex(in.address) << ", " << int(in.size) << " bytes";
        break;
    case trace::InputKind::MmioRead:
        o << " of " << hex(in.address) << ", " << int(in.size) << " bytes";
        break;
    case trace::InputKind::Interrupt:
        o << ", vector " << in.address;
        break;
    default:
        break;
    }
    return o.str();
}

// Register-by-register differences between the recorded and the replayed
// vCPU state.
std::string register_differences(const VcpuState& recorded, const VcpuState& replayed) {
    static const char* kGprNames[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    std::ostringstream o;
    auto diff = [&](const char* name, uint64_t a, uint64_t b) {
        if (a != b) {
            o << "    " << name << ": recorded " << hex(a) << ", replayed " << hex(b) << "\n";
        }
    };
    const CpuState& a = recorded.cpu;
    const CpuState& b = replayed.cpu;
    for (int i = 0; i < kGprCount; ++i) {
        diff(kGprNames[i], a.gpr[i], b.gpr[i]);
    }
    diff("rip", a.rip, b.rip);
    diff("rflags", a.rflags, b.rflags);
    diff("cr0", a.cr0, b.cr0);
    diff("cr2", a.cr2, b.cr2);
    diff("cr3", a.cr3, b.cr3);
    diff("cr4", a.cr4, b.cr4);
    diff("efer", a.msr.efer, b.msr.efer);
    diff("fs.base", a.seg[FS].base, b.seg[FS].base);
    diff("gs.base", a.seg[GS].base, b.seg[GS].base);
    diff("kernel_gs_base", a.msr.kernel_gs_base, b.msr.kernel_gs_base);
    diff("cs", a.seg[CS].selector, b.seg[CS].selector);
    diff("ss", a.seg[SS].selector, b.seg[SS].selector);
    diff("mxcsr", a.fpu.mxcsr, b.fpu.mxcsr);
    diff("fcw", a.fpu.fcw, b.fpu.fcw);
    diff("fsw", a.fpu.fsw, b.fpu.fsw);
    for (int i = 0; i < 16; ++i) {
        if (a.fpu.xmm[i] != b.fpu.xmm[i]) {
            o << "    xmm" << i << " differs\n";
        }
    }
    for (int i = 0; i < 8; ++i) {
        if (a.fpu.st[i] != b.fpu.st[i]) {
            o << "    st" << i << " differs\n";
        }
    }
    if (a.events != b.events) {
        o << "    pending events differ (halted, interrupt shadow, NMI)\n";
    }
    std::string s = o.str();
    if (s.empty() && !(a == b)) {
        s = "    (other state differs: segments, descriptor tables, MSRs or debug registers)\n";
    }
    return s;
}

class Replayer;

class ReplayEnvironment final : public CpuEnvironment {
public:
    explicit ReplayEnvironment(Replayer& replayer) : replayer_(replayer) {}
    uint64_t io_read(uint16_t port, int size) override;
    void io_write(uint16_t port, int size, uint64_t value) override;
    uint64_t mmio_read(uint64_t physical, int size) override;
    void mmio_write(uint64_t, int, uint64_t) override {}
    uint64_t virtual_tsc(uint64_t instructions_retired) override;

private:
    Replayer& replayer_;
    // The UART's line and modem control registers decide whether a write to
    // its first port is a character (DLAB clear, not in loopback).
    uint8_t line_control_ = 0;
    uint8_t modem_control_ = 0;
};

class Replayer {
public:
    Replayer(const std::string& path, const ReplayOptions& options)
        : trace_(path), options_(options), log_(trace_.log()),
          memory_(trace_.metadata().memory_size), environment_(*this) {
        trace::LoadedSnapshot snapshot = trace_.load_snapshot(memory_);
        if (snapshot.vcpus.size() != 1) {
            throw Error("replay: " + path, "only single-vCPU traces can be replayed yet");
        }
        vcpu_ = snapshot.vcpus[0];
        for (const trace::DeviceState& device : snapshot.devices) {
            if (device.name == kEmulatorClockDevice) {
                ByteReader r(device.data, "the emulator clock in " + path);
                skipped_ = r.u64();
            }
        }
        interpreter_ =
            std::make_unique<Interpreter>(vcpu_, memory_, environment_, trace_.metadata().cpuid);
        load_symbols();
    }

    ReplayResult run();

    // For the environment.
    uint64_t take_sync_input(trace::InputKind kind, uint64_t address, int size);
    void console_byte(uint8_t byte) {
        replayed_console_.push_back(static_cast<char>(byte));
        if (options_.console) {
            options_.console(byte);
        }
    }
    uint64_t skipped() const { return skipped_; }

private:
    const trace::LogRecord* peek() {
        if (!head_) {
            head_ = log_.next();
        }
        return head_ ? &*head_ : nullptr;
    }
    void pop() { head_.reset(); }
    void run_to(uint64_t count, const std::string& awaiting);
    void check_state(const trace::StateHashRecord& h);
    std::string where() const;
    void load_symbols();
    void report_progress(bool force);

    trace::TraceReader trace_;
    const ReplayOptions& options_;
    trace::LogReader log_;
    GuestMemory memory_;
    VcpuState vcpu_;
    ReplayEnvironment environment_;
    std::unique_ptr<Interpreter> interpreter_;
    std::optional<trace::LogRecord> head_;
    std::optional<SymbolTable> symbols_;
    uint64_t skipped_ = 0;
    uint64_t inputs_ = 0;
    std::optional<trace::InputRecord> last_input_;
    uint64_t hashes_ = 0;
    uint64_t start_ = 0;
    uint64_t last_progress_ = 0;
    std::string recorded_console_;
    std::string replayed_console_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

uint64_t ReplayEnvironment::io_read(uint16_t port, int size) {
    return replayer_.take_sync_input(trace::InputKind::PortRead, port, size);
}

uint64_t ReplayEnvironment::mmio_read(uint64_t physical, int size) {
    return replayer_.take_sync_input(trace::InputKind::MmioRead, physical, size);
}

void ReplayEnvironment::io_write(uint16_t port, int, uint64_t value) {
    if (port == kConsolePort + 3) {
        line_control_ = static_cast<uint8_t>(value);
    } else if (port == kConsolePort + 4) {
        modem_control_ = static_cast<uint8_t>(value);
    } else if (port == kConsolePort && !(line_control_ & 0x80) && !(modem_control_ & 0x10)) {
        replayer_.console_byte(static_cast<uint8_t>(value));
    }
}

uint64_t ReplayEnvironment::virtual_tsc(uint64_t instructions_retired) {
    return VirtualClock::tsc(instructions_retired + replayer_.skipped());
}

void Replayer::load_symbols() {
    try {
        std::filesystem::path kernel(trace_.metadata().kernel.path);
        symbols_ = SymbolTable::load((kernel.parent_path() / "System.map").string());
    } catch (const Error&) {
        // Reports then show bare addresses.
    }
}

std::string Replayer::where() const {
    std::ostringstream o;
    uint64_t rip = vcpu_.cpu.rip;
    o << "instruction " << vcpu_.instructions_retired << ", RIP " << hex(rip);
    if (symbols_) {
        if (auto m = symbols_->lookup(rip)) {
            o << " (" << m->symbol->name << "+" << hex(m->offset) << ")";
        }
    }
    if (last_input_) {
        o << "; the last input consumed was #" << inputs_ - 1 << ": "
          << describe_input(*last_input_) << " = " << hex(last_input_->value);
    } else {
        o << "; no input consumed yet";
    }
    return o.str();
}

void Replayer::report_progress(bool force) {
    uint64_t done = vcpu_.instructions_retired - start_;
    if (!options_.progress || (!force && done - last_progress_ < kProgressInterval)) {
        return;
    }
    last_progress_ = done;
    ReplayProgress p;
    p.instructions = done;
    p.inputs = inputs_;
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    options_.progress(p);
}

uint64_t Replayer::take_sync_input(trace::InputKind kind, uint64_t address, int size) {
    for (;;) {
        const trace::LogRecord* r = peek();
        if (r && std::holds_alternative<trace::ConsoleRecord>(*r)) {
            const auto& c = std::get<trace::ConsoleRecord>(*r);
            recorded_console_.append(c.bytes.begin(), c.bytes.end());
            pop();
            continue;
        }
        std::string replayed = trace::input_kind_name(static_cast<uint8_t>(kind)) + " of " +
                               hex(address) + " (" + std::to_string(size) + " bytes)";
        const auto* in = r ? std::get_if<trace::InputRecord>(r) : nullptr;
        if (!in) {
            throw Divergence{"the replay made a " + replayed + " but the log's next record is " +
                             (r ? trace::record_kind_name(*r) : std::string("the end"))};
        }
        if (in->kind != static_cast<uint8_t>(kind) || in->address != address || in->size != size ||
            in->instruction_count != vcpu_.instructions_retired || in->rip != vcpu_.cpu.rip) {
            throw Divergence{"the replay made a " + replayed + " where the log has input #" +
                             std::to_string(inputs_) + ": " + describe_input(*in)};
        }
        uint64_t value = in->value;
        last_input_ = *in;
        pop();
        ++inputs_;
        return value;
    }
}

void Replayer::run_to(uint64_t count, const std::string& awaiting) {
    while (vcpu_.instructions_retired < count) {
        uint64_t target = std::min(count, vcpu_.instructions_retired + kProgressInterval);
        StopReason r = interpreter_->run(target);
        report_progress(false);
        switch (r) {
        case StopReason::ReachedTarget:
        case StopReason::ExitRequested:
            break;
        case StopReason::Halted:
            throw Divergence{"the CPU halted before reaching " + awaiting};
        case StopReason::TripleFault:
            throw Divergence{"triple fault before reaching " + awaiting + ": " +
                             interpreter_->error()};
        case StopReason::Unimplemented:
            throw Divergence{"the emulator cannot go on before reaching " + awaiting + ": " +
                             interpreter_->error()};
        }
    }
    if (vcpu_.instructions_retired != count) {
        throw Divergence{"the replay passed instruction " + std::to_string(count) +
                         " without reaching " + awaiting};
    }
}

void Replayer::check_state(const trace::StateHashRecord& h) {
    ++hashes_;
    if (!options_.verify) {
        return;
    }
    std::vector<uint64_t> pages = page_hashes(memory_);
    bool registers_equal = register_hash(vcpu_) == h.register_hash;
    bool memory_equal = memory_hash(pages) == h.memory_hash;
    if (registers_equal && memory_equal) {
        return;
    }
    std::ostringstream o;
    o << "state hash mismatch at instruction " << h.instruction_count << ":";
    o << (registers_equal ? "" : " registers") << (memory_equal ? "" : " memory") << "\n";
    if (!registers_equal && !h.vcpu_state.empty()) {
        o << "  registers:\n"
          << register_differences(trace::decode_vcpu_state(h.vcpu_state), vcpu_);
    }
    if (!memory_equal && h.page_hashes.size() == pages.size()) {
        size_t shown = 0, differing = 0;
        std::ostringstream list;
        for (size_t i = 0; i < pages.size(); ++i) {
            if (pages[i] != h.page_hashes[i]) {
                ++differing;
                if (shown++ < 16) {
                    list << " " << hex(i * kPageSize);
                }
            }
        }
        o << "  " << differing << " guest-physical pages differ:" << list.str()
          << (differing > 16 ? " ..." : "") << "\n";
    }
    throw Divergence{o.str()};
}

ReplayResult Replayer::run() {
    ReplayResult result;
    start_ = vcpu_.instructions_retired;
    result.start_instruction = start_;
    try {
        while (const trace::LogRecord* r = peek()) {
            if (const auto* c = std::get_if<trace::ConsoleRecord>(r)) {
                recorded_console_.append(c->bytes.begin(), c->bytes.end());
                pop();
            } else if (const auto* h = std::get_if<trace::StateHashRecord>(r)) {
                trace::StateHashRecord record = *h;
                pop();
                run_to(record.instruction_count,
                       "the state hash at instruction " + std::to_string(record.instruction_count));
                check_state(record);
            } else if (const auto* in = std::get_if<trace::InputRecord>(r)) {
                trace::InputRecord input = *in;
                std::string what =
                    "input #" + std::to_string(inputs_) + " (" + describe_input(input) + ")";
                run_to(input.instruction_count, what);
                auto kind = static_cast<trace::InputKind>(input.kind);
                if (kind == trace::InputKind::PortRead || kind == trace::InputKind::MmioRead) {
                    // The instruction at this count makes the read: run it.
                    uint64_t before = inputs_;
                    run_to(input.instruction_count + 1, what);
                    if (inputs_ == before) {
                        throw Divergence{what + " was not consumed: the instruction at " +
                                         std::to_string(input.instruction_count) +
                                         " did not make that read"};
                    }
                    continue;
                }
                if (kind != trace::InputKind::ClockSkip && input.rip != vcpu_.cpu.rip) {
                    throw Divergence{what + " expected RIP " + hex(input.rip) +
                                     " but the replay is at " + hex(vcpu_.cpu.rip)};
                }
                last_input_ = input;
                pop();
                ++inputs_;
                switch (kind) {
                case trace::InputKind::Interrupt:
                    interpreter_->deliver_external_interrupt(static_cast<uint8_t>(input.address));
                    break;
                case trace::InputKind::Nmi:
                    interpreter_->deliver_nmi();
                    break;
                case trace::InputKind::ClockSkip:
                    skipped_ += input.value;
                    break;
                default:
                    throw Divergence{what + ": this kind of input cannot be replayed yet"};
                }
            } else if (const auto* end = std::get_if<trace::RecordEnd>(r)) {
                result.end = *end;
                pop();
                run_to(end->final_instruction_count, "the end of the recording");
            }
        }
        if (options_.verify && replayed_console_ != recorded_console_) {
            size_t at = 0;
            while (at < replayed_console_.size() && at < recorded_console_.size() &&
                   replayed_console_[at] == recorded_console_[at]) {
                ++at;
            }
            throw Divergence{"the console differs from the recorded one at byte " +
                             std::to_string(at) + " (recorded " +
                             std::to_string(recorded_console_.size()) + " bytes, replayed " +
                             std::to_string(replayed_console_.size()) + ")"};
        }
        result.ok = true;
    } catch (const Divergence& d) {
        result.ok = false;
        result.divergence = "replay diverged at " + where() + ":\n  " + d.what;
    }
    report_progress(true);
    result.final_instruction = vcpu_.instructions_retired;
    result.inputs_consumed = inputs_;
    result.hashes_checked = hashes_;
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    return result;
}

} // namespace

ReplayResult replay_trace(const std::string& path, const ReplayOptions& options) {
    Replayer replayer(path, options);
    return replayer.run();
}

} // namespace krr
