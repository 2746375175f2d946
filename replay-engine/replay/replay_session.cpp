#include "replay-engine/replay/replay_session.h"

#include "guest-model/byte_codec.h"
#include "guest-model/error.h"
#include "guest-model/state_hash.h"
#include "guest-model/symbols.h"
#include "guest-model/trace/snapshot_codec.h"
#include "guest-model/trace/trace_reader.h"
#include "guest-model/virtual_clock.h"
#include "replay-engine/interpreter/interpreter.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <vector>

namespace krr {

namespace {

// COM1, whose transmit register is the console.
constexpr uint16_t kConsolePort = 0x3f8;

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

} // namespace

namespace replay_detail {
class SessionEnvironment;
}
using replay_detail::SessionEnvironment;

class ReplaySession::Impl {
public:
    Impl(const std::string& path, ReplaySessionOptions options);

    bool run_to(uint64_t target);
    bool seek(uint64_t target);

    uint64_t take_sync_input(trace::InputKind kind, uint64_t address, int size);
    void console_byte(uint8_t byte);
    uint64_t skipped() const { return skipped_; }

    trace::TraceReader trace_;
    ReplaySessionOptions options_;
    GuestMemory memory_;
    std::vector<uint8_t> base_memory_; // RAM at the snapshot
    VcpuState vcpu_;
    std::unique_ptr<SessionEnvironment> environment_;
    std::unique_ptr<Interpreter> interpreter_;
    std::vector<trace::LogRecord> records_; // the whole log, RecordEnd last
    std::optional<SymbolTable> symbols_;

    // The cursor: everything a checkpoint must restore.
    struct Cursor {
        size_t next_record = 0;
        uint64_t inputs = 0;
        uint64_t skipped = 0;
        uint64_t hashes = 0;
        size_t replayed_console = 0; // bytes
        size_t recorded_console = 0;
        std::optional<trace::InputRecord> last_input;
        std::optional<trace::RecordEnd> end;
        uint8_t line_control = 0;
        uint8_t modem_control = 0;
    };
    Cursor cursor_;
    uint64_t& skipped_ = cursor_.skipped;
    std::string replayed_console_;
    std::string recorded_console_;
    size_t console_emitted_ = 0;

    struct Checkpoint {
        uint64_t position = 0;
        VcpuState vcpu;
        Cursor cursor;
        // Pages written since the previous checkpoint, as they were here.
        std::map<uint64_t, std::vector<uint8_t>> pages;
    };
    std::vector<Checkpoint> checkpoints_; // by position
    uint64_t checkpoint_bytes_ = 0;
    uint64_t start_ = 0;
    uint64_t end_ = 0;
    std::string divergence_;
    bool broken_ = false;

private:
    const trace::LogRecord* peek() const {
        return cursor_.next_record < records_.size() ? &records_[cursor_.next_record] : nullptr;
    }
    void execute_to(uint64_t count, const std::string& awaiting);
    void take_checkpoint();
    void restore(const Checkpoint& checkpoint, size_t index);
    void check_state(const trace::StateHashRecord& h);
    std::string where() const;
    void fail(const std::string& what);
};

namespace replay_detail {

class SessionEnvironment final : public CpuEnvironment {
public:
    explicit SessionEnvironment(ReplaySession::Impl& session) : session_(session) {}
    uint64_t io_read(uint16_t port, int size) override {
        return session_.take_sync_input(trace::InputKind::PortRead, port, size);
    }
    uint64_t mmio_read(uint64_t physical, int size) override {
        return session_.take_sync_input(trace::InputKind::MmioRead, physical, size);
    }
    void io_write(uint16_t port, int, uint64_t value) override {
        auto& c = session_.cursor_;
        if (port == kConsolePort + 3) {
            c.line_control = static_cast<uint8_t>(value);
        } else if (port == kConsolePort + 4) {
            c.modem_control = static_cast<uint8_t>(value);
        } else if (port == kConsolePort && !(c.line_control & 0x80) && !(c.modem_control & 0x10)) {
            session_.console_byte(static_cast<uint8_t>(value));
        }
    }
    void mmio_write(uint64_t, int, uint64_t) override {}
    uint64_t virtual_tsc(uint64_t instructions_retired) override {
        return VirtualClock::tsc(instructions_retired + session_.skipped());
    }

private:
    ReplaySession::Impl& session_;
};

} // namespace replay_detail

ReplaySession::Impl::Impl(const std::string& path, ReplaySessionOptions options)
    : trace_(path), options_(std::move(options)), memory_(trace_.metadata().memory_size) {
    trace::LoadedSnapshot snapshot = trace_.load_snapshot(memory_);
    if (snapshot.vcpus.size() != 1) {
        throw Error("replay: " + path, "only single-vCPU traces can be replayed yet");
    }
    vcpu_ = snapshot.vcpus[0];
    for (const trace::DeviceState& device : snapshot.devices) {
        if (device.name == kEmulatorClockDevice) {
            ByteReader r(device.data, "the emulator clock in " + path);
            cursor_.skipped = r.u64();
        }
    }
    trace::LogReader log = trace_.log();
    while (auto record = log.next()) {
        records_.push_back(std::move(*record));
    }
    start_ = vcpu_.instructions_retired;
    end_ = start_;
    for (const auto& r : records_) {
        if (const auto* e = std::get_if<trace::RecordEnd>(&r)) {
            end_ = std::max(end_, e->final_instruction_count);
        } else if (const auto* in = std::get_if<trace::InputRecord>(&r)) {
            end_ = std::max(end_, in->instruction_count);
        } else if (const auto* h = std::get_if<trace::StateHashRecord>(&r)) {
            end_ = std::max(end_, h->instruction_count);
        }
    }
    environment_ = std::make_unique<SessionEnvironment>(*this);
    interpreter_ =
        std::make_unique<Interpreter>(vcpu_, memory_, *environment_, trace_.metadata().cpuid);
    try {
        std::filesystem::path kernel(trace_.metadata().kernel.path);
        symbols_ = SymbolTable::load((kernel.parent_path() / "System.map").string());
    } catch (const Error&) {
        // Reports then show bare addresses.
    }
    if (options_.checkpoint_interval) {
        base_memory_.assign(memory_.base(), memory_.base() + memory_.size());
        interpreter_->memory().start_dirty_tracking();
        take_checkpoint();
    }
}

void ReplaySession::Impl::console_byte(uint8_t byte) {
    replayed_console_.resize(cursor_.replayed_console);
    replayed_console_.push_back(static_cast<char>(byte));
    ++cursor_.replayed_console;
    // Each byte reaches the user once, however often the session passes it.
    if (cursor_.replayed_console > console_emitted_) {
        console_emitted_ = cursor_.replayed_console;
        if (options_.console) {
            options_.console(byte);
        }
    }
}

std::string ReplaySession::Impl::where() const {
    std::ostringstream o;
    uint64_t rip = vcpu_.cpu.rip;
    o << "instruction " << vcpu_.instructions_retired << ", RIP " << hex(rip);
    if (symbols_) {
        if (auto m = symbols_->lookup(rip)) {
            o << " (" << m->symbol->name << "+" << hex(m->offset) << ")";
        }
    }
    if (cursor_.last_input) {
        o << "; the last input consumed was #" << cursor_.inputs - 1 << ": "
          << describe_input(*cursor_.last_input) << " = " << hex(cursor_.last_input->value);
    } else {
        o << "; no input consumed yet";
    }
    return o.str();
}

void ReplaySession::Impl::fail(const std::string& what) {
    divergence_ = "replay diverged at " + where() + ":\n  " + what;
    broken_ = true;
}

uint64_t ReplaySession::Impl::take_sync_input(trace::InputKind kind, uint64_t address, int size) {
    for (;;) {
        const trace::LogRecord* r = peek();
        if (r && std::holds_alternative<trace::ConsoleRecord>(*r)) {
            const auto& c = std::get<trace::ConsoleRecord>(*r);
            recorded_console_.resize(cursor_.recorded_console);
            recorded_console_.append(c.bytes.begin(), c.bytes.end());
            cursor_.recorded_console += c.bytes.size();
            ++cursor_.next_record;
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
                             std::to_string(cursor_.inputs) + ": " + describe_input(*in)};
        }
        cursor_.last_input = *in;
        ++cursor_.next_record;
        ++cursor_.inputs;
        return in->value;
    }
}

void ReplaySession::Impl::take_checkpoint() {
    Checkpoint c;
    c.position = vcpu_.instructions_retired;
    c.vcpu = vcpu_;
    c.cursor = cursor_;
    for (uint64_t page : interpreter_->memory().take_dirty_pages()) {
        const uint8_t* p = memory_.base() + page;
        c.pages.emplace(page, std::vector<uint8_t>(p, p + kPageSize));
        checkpoint_bytes_ += kPageSize;
    }
    auto at = std::upper_bound(checkpoints_.begin(), checkpoints_.end(), c.position,
                               [](uint64_t pos, const Checkpoint& k) { return pos < k.position; });
    checkpoints_.insert(at, std::move(c));
}

void ReplaySession::Impl::restore(const Checkpoint& checkpoint, size_t index) {
    // Memory at the checkpoint: the snapshot, then every checkpoint's pages
    // up to this one, later ones winning.
    std::memcpy(memory_.base(), base_memory_.data(), base_memory_.size());
    for (size_t i = 0; i <= index; ++i) {
        for (const auto& [page, bytes] : checkpoints_[i].pages) {
            std::memcpy(memory_.base() + page, bytes.data(), kPageSize);
        }
    }
    vcpu_ = checkpoint.vcpu;
    cursor_ = checkpoint.cursor;
    interpreter_->state_changed_externally();
    // Pages written from here on belong to the next checkpoint taken.
    interpreter_->memory().start_dirty_tracking();
}

void ReplaySession::Impl::execute_to(uint64_t count, const std::string& awaiting) {
    while (vcpu_.instructions_retired < count) {
        uint64_t target = count;
        const uint64_t interval = options_.checkpoint_interval;
        if (interval) {
            uint64_t next = (vcpu_.instructions_retired / interval + 1) * interval;
            target = std::min(target, next);
        }
        StopReason r = interpreter_->run(target);
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
        if (interval && vcpu_.instructions_retired % interval == 0 &&
            vcpu_.instructions_retired < count &&
            (checkpoints_.empty() || checkpoints_.back().position < vcpu_.instructions_retired)) {
            take_checkpoint();
        }
    }
    if (vcpu_.instructions_retired != count) {
        throw Divergence{"the replay passed instruction " + std::to_string(count) +
                         " without reaching " + awaiting};
    }
}

void ReplaySession::Impl::check_state(const trace::StateHashRecord& h) {
    ++cursor_.hashes;
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

bool ReplaySession::Impl::run_to(uint64_t target) {
    if (broken_) {
        return false;
    }
    target = std::min(target, end_);
    try {
        while (const trace::LogRecord* r = peek()) {
            if (const auto* c = std::get_if<trace::ConsoleRecord>(r)) {
                recorded_console_.resize(cursor_.recorded_console);
                recorded_console_.append(c->bytes.begin(), c->bytes.end());
                cursor_.recorded_console += c->bytes.size();
                ++cursor_.next_record;
            } else if (const auto* h = std::get_if<trace::StateHashRecord>(r)) {
                // A hash at the target is checked: it belongs before the
                // inputs at its count.
                if (h->instruction_count > target) {
                    break;
                }
                trace::StateHashRecord record = *h;
                execute_to(record.instruction_count, "the state hash at instruction " +
                                                         std::to_string(record.instruction_count));
                check_state(record);
                ++cursor_.next_record;
            } else if (const auto* in = std::get_if<trace::InputRecord>(r)) {
                if (in->instruction_count >= target) {
                    break;
                }
                trace::InputRecord input = *in;
                std::string what =
                    "input #" + std::to_string(cursor_.inputs) + " (" + describe_input(input) + ")";
                execute_to(input.instruction_count, what);
                auto kind = static_cast<trace::InputKind>(input.kind);
                if (kind == trace::InputKind::PortRead || kind == trace::InputKind::MmioRead) {
                    // The instruction at this count makes the read: run it.
                    uint64_t before = cursor_.inputs;
                    execute_to(input.instruction_count + 1, what);
                    if (cursor_.inputs == before) {
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
                cursor_.last_input = input;
                ++cursor_.next_record;
                ++cursor_.inputs;
                switch (kind) {
                case trace::InputKind::Interrupt:
                    interpreter_->deliver_external_interrupt(static_cast<uint8_t>(input.address));
                    break;
                case trace::InputKind::Nmi:
                    interpreter_->deliver_nmi();
                    break;
                case trace::InputKind::ClockSkip:
                    cursor_.skipped += input.value;
                    break;
                default:
                    throw Divergence{what + ": this kind of input cannot be replayed yet"};
                }
            } else if (const auto* end = std::get_if<trace::RecordEnd>(r)) {
                if (end->final_instruction_count > target) {
                    break;
                }
                execute_to(end->final_instruction_count, "the end of the recording");
                cursor_.end = *end;
                ++cursor_.next_record;
            }
        }
        execute_to(std::max(target, vcpu_.instructions_retired), "the position asked for");
    } catch (const Divergence& d) {
        fail(d.what);
        return false;
    }
    return true;
}

bool ReplaySession::Impl::seek(uint64_t target) {
    if (broken_) {
        return false;
    }
    target = std::clamp(target, start_, end_);
    if (target < vcpu_.instructions_retired) {
        if (checkpoints_.empty()) {
            fail("cannot go back to instruction " + std::to_string(target) +
                 ": this session keeps no checkpoints");
            return false;
        }
        size_t index = 0;
        for (size_t i = 0; i < checkpoints_.size(); ++i) {
            if (checkpoints_[i].position <= target) {
                index = i;
            }
        }
        restore(checkpoints_[index], index);
    }
    return run_to(target);
}

ReplaySession::ReplaySession(const std::string& path, ReplaySessionOptions options)
    : impl_(std::make_unique<Impl>(path, std::move(options))) {}
ReplaySession::~ReplaySession() = default;
const trace::TraceMetadata& ReplaySession::metadata() const {
    return impl_->trace_.metadata();
}
uint64_t ReplaySession::start_instruction() const {
    return impl_->start_;
}
uint64_t ReplaySession::end_instruction() const {
    return impl_->end_;
}
uint64_t ReplaySession::position() const {
    return impl_->vcpu_.instructions_retired;
}
uint64_t ReplaySession::inputs_consumed() const {
    return impl_->cursor_.inputs;
}
uint64_t ReplaySession::hashes_checked() const {
    return impl_->cursor_.hashes;
}
const std::optional<trace::RecordEnd>& ReplaySession::record_end() const {
    return impl_->cursor_.end;
}
bool ReplaySession::run_to(uint64_t instructions) {
    return impl_->run_to(instructions);
}
bool ReplaySession::seek(uint64_t instructions) {
    return impl_->seek(instructions);
}
std::string ReplaySession::console_difference() const {
    const std::string replayed =
        impl_->replayed_console_.substr(0, impl_->cursor_.replayed_console);
    const std::string recorded =
        impl_->recorded_console_.substr(0, impl_->cursor_.recorded_console);
    if (replayed == recorded) {
        return {};
    }
    size_t at = 0;
    while (at < replayed.size() && at < recorded.size() && replayed[at] == recorded[at]) {
        ++at;
    }
    return "the console differs from the recorded one at byte " + std::to_string(at) +
           " (recorded " + std::to_string(recorded.size()) + " bytes, replayed " +
           std::to_string(replayed.size()) + ")";
}
const std::string& ReplaySession::divergence() const {
    return impl_->divergence_;
}
const VcpuState& ReplaySession::vcpu() const {
    return impl_->vcpu_;
}
const GuestMemory& ReplaySession::memory() const {
    return impl_->memory_;
}
size_t ReplaySession::checkpoint_count() const {
    return impl_->checkpoints_.size();
}
uint64_t ReplaySession::checkpoint_bytes() const {
    return impl_->checkpoint_bytes_;
}

} // namespace krr
