#include "replay-engine/replay/replay_session.h"

#include "guest-model/byte_codec.h"
#include "guest-model/error.h"
#include "guest-model/state_hash.h"
#include "guest-model/symbols.h"
#include "guest-model/trace/emulator_clock_state.h"
#include "guest-model/trace/snapshot_codec.h"
#include "guest-model/trace/trace_positions.h"
#include "guest-model/trace/trace_reader.h"
#include "guest-model/virtual_clock.h"
#include "replay-engine/interpreter/interpreter.h"
#include "replay-engine/replay/checkpoint_memory.h"
#include "replay-engine/replay/position_resolver.h"
#include "replay-engine/system/cpu_startup.h"

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

bool is_synchronous(uint8_t kind) {
    return trace::is_synchronous_input(kind);
}

// While re-executing toward a position the user went back to, checkpoints
// are taken every eighth of the way, but not closer than this: the next
// step back then re-executes at most that far.
constexpr uint64_t kDensestCheckpoints = 100'000;
// How often a long run asks whether gdb wants it to stop.
constexpr uint64_t kPollInstructions = 4'000'000;

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
    static const char* kSegmentNames[] = {"es", "cs", "ss", "ds", "fs", "gs"};
    auto segment = [&](const std::string& name, const Segment& x, const Segment& y) {
        if (x == y) {
            return;
        }
        auto field = [&](const char* f, uint64_t p, uint64_t q) {
            if (p != q) {
                o << "    " << name << "." << f << ": recorded " << hex(p) << ", replayed "
                  << hex(q) << "\n";
            }
        };
        field("selector", x.selector, y.selector);
        field("base", x.base, y.base);
        field("limit", x.limit, y.limit);
        field("type", x.type, y.type);
        field("s", x.s, y.s);
        field("dpl", x.dpl, y.dpl);
        field("present", x.present, y.present);
        field("avl", x.avl, y.avl);
        field("l", x.l, y.l);
        field("db", x.db, y.db);
        field("g", x.g, y.g);
        field("unusable", x.unusable, y.unusable);
    };
    for (int i = 0; i < kSegmentCount; ++i) {
        if (i != FS && i != GS) { // their bases are listed above
            segment(kSegmentNames[i], a.seg[i], b.seg[i]);
        } else {
            Segment x = a.seg[i], y = b.seg[i];
            x.base = y.base;
            segment(kSegmentNames[i], x, y);
        }
    }
    segment("ldtr", a.ldtr, b.ldtr);
    segment("tr", a.tr, b.tr);
    diff("gdtr.base", a.gdtr.base, b.gdtr.base);
    diff("gdtr.limit", a.gdtr.limit, b.gdtr.limit);
    diff("idtr.base", a.idtr.base, b.idtr.base);
    diff("idtr.limit", a.idtr.limit, b.idtr.limit);
    diff("cr8", a.cr8, b.cr8);
    for (int i = 0; i < 4; ++i) {
        diff(("dr" + std::to_string(i)).c_str(), a.dr[i], b.dr[i]);
    }
    diff("dr6", a.dr6, b.dr6);
    diff("dr7", a.dr7, b.dr7);
    diff("star", a.msr.star, b.msr.star);
    diff("lstar", a.msr.lstar, b.msr.lstar);
    diff("cstar", a.msr.cstar, b.msr.cstar);
    diff("sfmask", a.msr.sfmask, b.msr.sfmask);
    diff("sysenter_cs", a.msr.sysenter_cs, b.msr.sysenter_cs);
    diff("sysenter_esp", a.msr.sysenter_esp, b.msr.sysenter_esp);
    diff("sysenter_eip", a.msr.sysenter_eip, b.msr.sysenter_eip);
    diff("pat", a.msr.pat, b.msr.pat);
    diff("apic_base", a.msr.apic_base, b.msr.apic_base);
    diff("misc_enable", a.msr.misc_enable, b.msr.misc_enable);
    diff("tsc_offset", a.msr.tsc_offset, b.msr.tsc_offset);
    diff("ftw", a.fpu.ftw, b.fpu.ftw);
    diff("fop", a.fpu.fop, b.fpu.fop);
    diff("fip", a.fpu.fip, b.fpu.fip);
    diff("fdp", a.fpu.fdp, b.fpu.fdp);
    diff("instructions retired", recorded.instructions_retired, replayed.instructions_retired);
    std::string s = o.str();
    if (s.empty() && !(recorded == replayed)) {
        s = "    (other state differs)\n";
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

    // A breakpoint or watchpoint hit met while moving forward. For a
    // watchpoint `at` is the position after the access.
    struct Hit {
        TimelineStopKind kind = TimelineStopKind::Breakpoint;
        TimelinePosition at;
        uint64_t breakpoint = 0;
        WatchHit watch;
    };
    // How a forward move treats the debugger's breakpoints and watchpoints.
    struct DebugRun {
        bool collect = false; // record every hit and go on, instead of stopping at the first
        bool use_breakpoints = true;
        bool use_watchpoints = true;
        std::optional<TimelinePosition> skip_breakpoint_at;
        bool stop_at_delivery = false; // a single step: stop after an exception delivery
        const std::function<bool()>* interrupted = nullptr;
        std::vector<Hit> hits;
        bool stopped = false; // at a hit, a delivery or an interruption
        bool delivered = false;
        bool was_interrupted = false;
    };

    TimelinePosition now() const {
        return {count(), cursor_.inputs, interpreter_->deliveries_since_retire()};
    }
    // The vCPU executing, and the machine's count: every vCPU's retired
    // instructions together (docs/smp.md); with one vCPU, its own count.
    VcpuState& vcpu() { return vcpus_[cursor_.current]; }
    const VcpuState& vcpu() const { return vcpus_[cursor_.current]; }
    uint64_t count() const { return others_retired_ + vcpu().instructions_retired; }
    // The executing vCPU's own count at machine count `machine_count`.
    uint64_t local_count(uint64_t machine_count) const { return machine_count - others_retired_; }
    void switch_to_vcpu(uint32_t next);
    void refresh_others_retired();
    TimelinePosition end_position() const {
        return normalize({end_, TimelinePosition::kAllInputs, 0});
    }
    bool at_end() const { return now() >= end_position(); }
    TimelinePosition normalize(TimelinePosition p) const;

    // Forward to `target` (false: stopped early by `debug`). Throws Divergence.
    bool advance(const TimelinePosition& target, DebugRun* debug);
    bool run_to(const TimelinePosition& target);
    bool seek(const TimelinePosition& target);
    TimelineStop step(Direction direction);
    TimelineStop resume(Direction direction, const std::function<bool()>& interrupted);
    TimelinePosition previous_position();
    void discard_modifications();
    TimelineStop diverged(const Divergence& d);

    uint64_t take_sync_input(trace::InputKind kind, uint64_t address, int size);
    void console_byte(uint8_t byte);
    uint64_t skipped() const { return cursor_.skipped[cursor_.current]; }

    trace::TraceReader trace_;
    ReplaySessionOptions options_;
    GuestMemory memory_;
    // Sized once: the interpreter points into it.
    std::vector<VcpuState> vcpus_;
    uint64_t others_retired_ = 0; // by the vCPUs not executing
    std::unique_ptr<SessionEnvironment> environment_;
    std::unique_ptr<Interpreter> interpreter_;
    std::vector<trace::LogRecord> records_; // the whole log, RecordEnd last
    std::vector<trace::InputRecord> inputs_;
    std::optional<SymbolTable> symbols_;

    // The cursor: everything a checkpoint must restore besides the vCPUs.
    struct Cursor {
        size_t next_record = 0;
        uint64_t inputs = 0;
        uint32_t current = 0;             // the vCPU executing
        std::vector<uint64_t> skipped;    // per vCPU: time skipped while halted
        std::vector<uint32_t> deliveries; // per vCPU not executing: its position detail
        std::vector<uint64_t> last_retired_rips;
        uint64_t hashes = 0;
        size_t replayed_console = 0; // bytes
        size_t recorded_console = 0;
        std::optional<trace::InputRecord> last_input;
        std::optional<trace::RecordEnd> end;
        uint8_t line_control = 0;
        uint8_t modem_control = 0;
    };
    Cursor cursor_;
    std::string replayed_console_;
    std::string recorded_console_;
    size_t console_emitted_ = 0;

    struct Checkpoint {
        std::vector<VcpuState> vcpus;
        Cursor cursor;
        uint64_t last_retired_rip = Interpreter::kNoRip;
        // Cached translations are part of what the guest sees (accessed
        // bits cleared without INVLPG are not set again through them).
        Tlb tlb;
    };
    std::map<TimelinePosition, Checkpoint> checkpoints_;
    std::unique_ptr<CheckpointMemory> checkpoint_memory_;
    // Live memory equals this checkpoint's except on `touched_` and the
    // pages dirty tracking has collected since.
    TimelinePosition anchor_;
    std::vector<uint64_t> touched_;
    std::vector<uint64_t> wanted_checkpoints_; // counts, ascending
    uint64_t focus_ = 0;                       // where the user works: checkpoints stay dense here

    std::vector<uint64_t> breakpoints_; // sorted
    std::vector<WatchRange> watches_;
    bool modified_ = false;

    uint64_t start_ = 0;
    uint64_t end_ = 0;
    bool recorded_under_kvm_ = false;
    std::string divergence_;
    bool broken_ = false;

private:
    const trace::LogRecord* peek() const {
        return cursor_.next_record < records_.size() ? &records_[cursor_.next_record] : nullptr;
    }
    void take_console(const trace::ConsoleRecord& c);
    bool execute_to(uint64_t count, const std::string& awaiting, DebugRun* debug);
    bool note_hit(DebugRun* debug, const Hit& hit);
    void at_boundary();
    void take_checkpoint();
    void keep_within_budget();
    void restore(const TimelinePosition& checkpoint);
    void collect_touched();
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
        if (session_.recorded_under_kvm_) {
            // Under KVM the guest's time came from the recorder's clock.
            return session_.take_sync_input(trace::InputKind::Rdtsc, 0, 8);
        }
        return VirtualClock::tsc(instructions_retired + session_.skipped());
    }

private:
    ReplaySession::Impl& session_;
};

} // namespace replay_detail

ReplaySession::Impl::Impl(const std::string& path, ReplaySessionOptions options)
    : trace_(path), options_(std::move(options)), memory_(trace_.metadata().memory_size) {
    trace::LoadedSnapshot snapshot = trace_.load_snapshot(memory_);
    if (snapshot.vcpus.empty()) {
        throw Error("replay: " + path, "the snapshot has no vCPU");
    }
    vcpus_ = snapshot.vcpus;
    const size_t n = vcpus_.size();
    trace::EmulatorClockState clock;
    clock.vcpus.resize(n);
    for (const trace::DeviceState& device : snapshot.devices) {
        if (device.name == kEmulatorClockDevice) {
            clock = trace::decode_emulator_clock(device.data, n, "the emulator clock in " + path);
        }
    }
    cursor_.current = clock.current;
    for (const trace::VcpuClockState& v : clock.vcpus) {
        cursor_.skipped.push_back(v.skipped);
        cursor_.deliveries.push_back(v.deliveries);
        cursor_.last_retired_rips.push_back(v.last_retired_rip);
    }
    refresh_others_retired();
    trace::LogReader log = trace_.log();
    while (auto record = log.next()) {
        records_.push_back(std::move(*record));
    }
    recorded_under_kvm_ = trace_.metadata().accelerator == "kvm";
    if (trace::unresolved_records(records_) > 0) {
        std::optional<trace::ResolvedPositions> positions;
        try {
            positions = trace::read_positions(path);
        } catch (const Error&) {
            // Damaged, or made for another log: found again below.
        }
        if (!positions) {
            // Recorded under KVM and not resolved yet: do it now, once.
            ResolveOptions resolve;
            resolve.progress = options_.resolve_progress;
            resolve_positions(path, resolve);
            positions = trace::read_positions(path);
        }
        trace::apply_positions(records_, *positions);
    }
    start_ = count();
    end_ = start_;
    for (const auto& r : records_) {
        if (const auto* e = std::get_if<trace::RecordEnd>(&r)) {
            end_ = std::max(end_, e->final_instruction_count);
        } else if (const auto* in = std::get_if<trace::InputRecord>(&r)) {
            end_ = std::max(end_, in->instruction_count);
            inputs_.push_back(*in);
        } else if (const auto* h = std::get_if<trace::StateHashRecord>(&r)) {
            end_ = std::max(end_, h->instruction_count);
        }
    }
    environment_ = std::make_unique<SessionEnvironment>(*this);
    interpreter_ =
        std::make_unique<Interpreter>(vcpu(), memory_, *environment_, trace_.metadata().cpuid);
    interpreter_->kernel_rotates_write_overflow = trace_.metadata().kvm_flavor == "pvm";
    interpreter_->set_position_detail(cursor_.deliveries[cursor_.current],
                                      cursor_.last_retired_rips[cursor_.current]);
    try {
        std::filesystem::path kernel(trace_.metadata().kernel.path);
        symbols_ = SymbolTable::load((kernel.parent_path() / "System.map").string());
    } catch (const Error&) {
        // Reports then show bare addresses.
    }
    if (options_.checkpoint_interval) {
        anchor_ = now();
        checkpoint_memory_ = std::make_unique<CheckpointMemory>(memory_, anchor_);
        checkpoints_[anchor_] = Checkpoint{vcpus_, cursor_, interpreter_->last_retired_rip(),
                                           interpreter_->memory().tlb()};
        interpreter_->memory().start_dirty_tracking();
    }
}

void ReplaySession::Impl::refresh_others_retired() {
    others_retired_ = 0;
    for (size_t i = 0; i < vcpus_.size(); ++i) {
        if (i != cursor_.current) {
            others_retired_ += vcpus_[i].instructions_retired;
        }
    }
}

// A logged switch: the executing vCPU keeps its position detail; the next
// one resumes with its own.
void ReplaySession::Impl::switch_to_vcpu(uint32_t next) {
    const uint32_t left = cursor_.current;
    cursor_.deliveries[left] = interpreter_->deliveries_since_retire();
    cursor_.last_retired_rips[left] = interpreter_->last_retired_rip();
    cursor_.current = next;
    refresh_others_retired();
    interpreter_->switch_vcpu(vcpu(), cursor_.deliveries[next], cursor_.last_retired_rips[next]);
}

TimelinePosition ReplaySession::Impl::normalize(TimelinePosition p) const {
    p.instructions = std::clamp(p.instructions, start_, end_);
    // Every input logged before the count has been consumed on reaching
    // it; the asynchronous ones logged at the count come next, in order.
    auto first = std::lower_bound(
        inputs_.begin(), inputs_.end(), p.instructions,
        [](const trace::InputRecord& in, uint64_t count) { return in.instruction_count < count; });
    uint64_t low = static_cast<uint64_t>(first - inputs_.begin());
    uint64_t high = low;
    while (high < inputs_.size() && inputs_[high].instruction_count == p.instructions &&
           !is_synchronous(inputs_[high].kind)) {
        ++high;
    }
    p.inputs = std::clamp(p.inputs, low, high);
    if (p.inputs != high) {
        p.deliveries = 0;
    }
    return p;
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

void ReplaySession::Impl::take_console(const trace::ConsoleRecord& c) {
    recorded_console_.resize(cursor_.recorded_console);
    recorded_console_.append(c.bytes.begin(), c.bytes.end());
    cursor_.recorded_console += c.bytes.size();
    ++cursor_.next_record;
}

std::string ReplaySession::Impl::where() const {
    std::ostringstream o;
    uint64_t rip = vcpu().cpu.rip;
    o << "instruction " << count();
    if (vcpus_.size() > 1) {
        o << " (vCPU " << cursor_.current << ")";
    }
    o << ", RIP " << hex(rip);
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

TimelineStop ReplaySession::Impl::diverged(const Divergence& d) {
    fail(d.what);
    return TimelineStop{TimelineStopKind::Diverged, 0, {}};
}

uint64_t ReplaySession::Impl::take_sync_input(trace::InputKind kind, uint64_t address, int size) {
    for (;;) {
        const trace::LogRecord* r = peek();
        if (r && std::holds_alternative<trace::ConsoleRecord>(*r)) {
            take_console(std::get<trace::ConsoleRecord>(*r));
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
            in->instruction_count != count() || in->rip != vcpu().cpu.rip ||
            in->vcpu != cursor_.current) {
            throw Divergence{"the replay made a " + replayed + " where the log has input #" +
                             std::to_string(cursor_.inputs) + ": " + describe_input(*in)};
        }
        cursor_.last_input = *in;
        ++cursor_.next_record;
        ++cursor_.inputs;
        return in->value;
    }
}

void ReplaySession::Impl::collect_touched() {
    std::vector<uint64_t> dirty = interpreter_->memory().take_dirty_pages();
    touched_.insert(touched_.end(), dirty.begin(), dirty.end());
    std::sort(touched_.begin(), touched_.end());
    touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
}

void ReplaySession::Impl::take_checkpoint() {
    const TimelinePosition at = now();
    collect_touched();
    checkpoint_memory_->add(at, memory_, touched_);
    checkpoints_[at] =
        Checkpoint{vcpus_, cursor_, interpreter_->last_retired_rip(), interpreter_->memory().tlb()};
    anchor_ = at;
    touched_.clear();
    keep_within_budget();
}

void ReplaySession::Impl::keep_within_budget() {
    const uint64_t budget = options_.checkpoint_memory;
    auto held = [&] {
        return checkpoint_memory_->bytes() + checkpoints_.size() * sizeof(Checkpoint);
    };
    while (budget && held() > budget && checkpoints_.size() > 2) {
        // Drop the checkpoint whose neighbours are closest together for its
        // distance from where the user works: what remains thins out
        // geometrically away from there.
        auto victim = checkpoints_.end();
        double best = 0;
        for (auto it = std::next(checkpoints_.begin()); it != checkpoints_.end(); ++it) {
            if (it->first == anchor_) {
                continue;
            }
            auto next = std::next(it);
            uint64_t gap = (next == checkpoints_.end() ? end_ : next->first.instructions) -
                           std::prev(it)->first.instructions;
            uint64_t distance = it->first.instructions > focus_ ? it->first.instructions - focus_
                                                                : focus_ - it->first.instructions;
            double score = static_cast<double>(gap) / (1.0 + static_cast<double>(distance));
            if (victim == checkpoints_.end() || score < best) {
                victim = it;
                best = score;
            }
        }
        if (victim == checkpoints_.end()) {
            break;
        }
        checkpoint_memory_->remove(victim->first);
        checkpoints_.erase(victim);
    }
}

void ReplaySession::Impl::restore(const TimelinePosition& at) {
    const Checkpoint& checkpoint = checkpoints_.at(at);
    collect_touched();
    std::vector<uint64_t> pages = checkpoint_memory_->restore(memory_, anchor_, touched_, at);
    for (size_t i = 0; i < vcpus_.size(); ++i) {
        vcpus_[i] = checkpoint.vcpus[i];
    }
    cursor_ = checkpoint.cursor;
    refresh_others_retired();
    interpreter_->switch_vcpu(vcpu(), 0, Interpreter::kNoRip);
    interpreter_->pages_changed_externally(pages);
    interpreter_->memory().restore_tlb(checkpoint.tlb);
    interpreter_->set_position_detail(0, checkpoint.last_retired_rip);
    anchor_ = at;
    touched_.clear();
    modified_ = false;
}

// Between two runs of the interpreter: take the checkpoints wanted here, or
// note that the live memory is a checkpoint's again.
void ReplaySession::Impl::at_boundary() {
    if (!checkpoint_memory_ || interpreter_->deliveries_since_retire() != 0) {
        return;
    }
    const uint64_t count = this->count();
    bool wanted = count % options_.checkpoint_interval == 0;
    while (!wanted_checkpoints_.empty() && wanted_checkpoints_.front() <= count) {
        wanted = wanted || wanted_checkpoints_.front() == count;
        wanted_checkpoints_.erase(wanted_checkpoints_.begin());
    }
    const TimelinePosition here = now();
    if (checkpoints_.count(here)) {
        if (anchor_ != here) {
            (void)interpreter_->memory().take_dirty_pages();
            anchor_ = here;
            touched_.clear();
        }
    } else if (wanted && count < end_) {
        take_checkpoint();
    }
}

bool ReplaySession::Impl::note_hit(DebugRun* debug, const Hit& hit) {
    if (debug->collect) {
        debug->hits.push_back(hit);
        if (hit.kind == TimelineStopKind::Breakpoint) {
            debug->skip_breakpoint_at = hit.at;
        }
        return false;
    }
    debug->hits.push_back(hit);
    debug->stopped = true;
    return true;
}

// Runs the interpreter to `count`, stopping at checkpoint boundaries and,
// with `debug`, at what it asks for. False when `debug` stopped it.
bool ReplaySession::Impl::execute_to(uint64_t count, const std::string& awaiting, DebugRun* debug) {
    const uint64_t interval = options_.checkpoint_interval;
    while (this->count() < count) {
        at_boundary();
        uint64_t target = count;
        if (interval) {
            target = std::min(target, (this->count() / interval + 1) * interval);
            if (!wanted_checkpoints_.empty()) {
                target = std::min(target, std::max(wanted_checkpoints_.front(), this->count() + 1));
            }
        }
        RunControl control;
        if (debug) {
            if (debug->interrupted) {
                target = std::min(target, this->count() + kPollInstructions);
            }
            control.breakpoints =
                breakpoints_.empty() || !debug->use_breakpoints ? nullptr : &breakpoints_;
            control.watching = !watches_.empty() && debug->use_watchpoints;
            control.skip_breakpoint_at_start = debug->skip_breakpoint_at == now();
            if (debug->stop_at_delivery) {
                control.stop_after_deliveries = interpreter_->deliveries_since_retire() + 1;
            }
            if (control.watching && interpreter_->memory().has_watch_hit()) {
                (void)interpreter_->memory().take_watch_hit();
            }
        }
        StopReason r = interpreter_->run(local_count(target), control);
        switch (r) {
        case StopReason::ReachedTarget:
        case StopReason::ExitRequested:
            break;
        case StopReason::Breakpoint:
            if (note_hit(debug, Hit{TimelineStopKind::Breakpoint, now(), vcpu().cpu.rip, {}})) {
                return false;
            }
            continue;
        case StopReason::Watchpoint: {
            Hit hit{TimelineStopKind::Watchpoint, now(), 0,
                    interpreter_->memory().take_watch_hit()};
            if (note_hit(debug, hit)) {
                return false;
            }
            continue;
        }
        case StopReason::Delivered:
            debug->stopped = true;
            debug->delivered = true;
            return false;
        case StopReason::Halted:
            throw Divergence{"the CPU halted before reaching " + awaiting};
        case StopReason::TripleFault:
            throw Divergence{"triple fault before reaching " + awaiting + ": " +
                             interpreter_->error()};
        case StopReason::Unimplemented:
            throw Divergence{"the emulator cannot go on before reaching " + awaiting + ": " +
                             interpreter_->error()};
        }
        if (debug && debug->interrupted && *debug->interrupted && (*debug->interrupted)()) {
            debug->stopped = true;
            debug->was_interrupted = true;
            return false;
        }
    }
    if (this->count() != count) {
        throw Divergence{"the replay passed instruction " + std::to_string(count) +
                         " without reaching " + awaiting};
    }
    return true;
}

void ReplaySession::Impl::check_state(const trace::StateHashRecord& h) {
    ++cursor_.hashes;
    if (!options_.verify) {
        return;
    }
    std::vector<uint64_t> pages = page_hashes(memory_);
    // A recording under KVM does not know the emulator's counts: its hash
    // leaves them out (TraceRecorder::finish).
    const bool counts_unknown = recorded_under_kvm_;
    bool registers_equal = (counts_unknown ? machine_register_hash_without_counts(vcpus_)
                                           : machine_register_hash(vcpus_)) == h.register_hash;
    bool memory_equal = memory_hash(pages) == h.memory_hash;
    if (registers_equal && memory_equal) {
        return;
    }
    std::ostringstream o;
    o << "state hash mismatch at instruction " << h.instruction_count << ":";
    o << (registers_equal ? "" : " registers") << (memory_equal ? "" : " memory") << "\n";
    if (!registers_equal && !h.vcpu_state.empty()) {
        // Each recorded vCPU against the same vCPU here (a record of
        // several vCPUs keeps them all since other_vcpu_states; before, the
        // one that ran).
        std::vector<VcpuState> recorded{trace::decode_vcpu_state(h.vcpu_state)};
        for (const std::vector<uint8_t>& state : h.other_vcpu_states) {
            recorded.push_back(trace::decode_vcpu_state(state));
        }
        o << "  registers:\n";
        for (const VcpuState& r : recorded) {
            if (r.id >= vcpus_.size()) {
                o << "    the record holds vCPU " << r.id << ", which this machine lacks\n";
                continue;
            }
            const VcpuState& here = vcpus_[r.id];
            const std::string differences =
                counts_unknown ? register_differences(without_count(r), without_count(here))
                               : register_differences(r, here);
            if (!differences.empty() && vcpus_.size() > 1) {
                o << "   vCPU " << r.id << ":\n";
            }
            o << differences;
        }
        if (vcpus_.size() > 1 && recorded.size() == 1) {
            o << "    (the record keeps vCPU " << recorded[0].id
              << "'s state only: another vCPU's may differ)\n";
        }
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

bool ReplaySession::Impl::advance(const TimelinePosition& target, DebugRun* debug) {
    while (const trace::LogRecord* r = peek()) {
        if (const auto* c = std::get_if<trace::ConsoleRecord>(r)) {
            take_console(*c);
        } else if (const auto* h = std::get_if<trace::StateHashRecord>(r)) {
            // A hash at the target's count is checked: it belongs before
            // the inputs at its count.
            if (h->instruction_count > target.instructions) {
                break;
            }
            trace::StateHashRecord record = *h;
            if (!execute_to(record.instruction_count,
                            "the state hash at instruction " +
                                std::to_string(record.instruction_count),
                            debug)) {
                return false;
            }
            check_state(record);
            ++cursor_.next_record;
        } else if (const auto* in = std::get_if<trace::InputRecord>(r)) {
            if (in->instruction_count > target.instructions ||
                (in->instruction_count == target.instructions &&
                 (is_synchronous(in->kind) || cursor_.inputs >= target.inputs))) {
                break;
            }
            trace::InputRecord input = *in;
            std::string what =
                "input #" + std::to_string(cursor_.inputs) + " (" + describe_input(input) + ")";
            if (!execute_to(input.instruction_count, what, debug)) {
                return false;
            }
            if (is_synchronous(input.kind)) {
                // The instruction at this count makes the read: run it.
                uint64_t before = cursor_.inputs;
                if (!execute_to(input.instruction_count + 1, what, debug)) {
                    return false;
                }
                if (cursor_.inputs == before) {
                    throw Divergence{what + " was not consumed: the instruction at " +
                                     std::to_string(input.instruction_count) +
                                     " did not make that read"};
                }
                continue;
            }
            auto kind = static_cast<trace::InputKind>(input.kind);
            if (input.vcpu >= vcpus_.size()) {
                throw Divergence{what + " names vCPU " + std::to_string(input.vcpu) +
                                 " but the trace has " + std::to_string(vcpus_.size())};
            }
            const bool about_current =
                kind == trace::InputKind::Interrupt || kind == trace::InputKind::Nmi;
            if (about_current && input.vcpu != cursor_.current) {
                throw Divergence{what + " is for vCPU " + std::to_string(input.vcpu) +
                                 " but vCPU " + std::to_string(cursor_.current) + " executes"};
            }
            if (recorded_under_kvm_ && input.position) {
                // The resolve pass found it so (rewind_to_finished_rep). A
                // switch's position is the leaving vCPU's, at the RIP in
                // its address field.
                const uint64_t at =
                    kind == trace::InputKind::VcpuSwitch ? input.address : input.rip;
                if (at != vcpu().cpu.rip) {
                    rewind_to_finished_rep(*interpreter_, vcpu().cpu, at);
                }
            }
            // Under KVM a switch's rip is where the arriving vCPU was when
            // it left; replay may have it before the instruction whose
            // exception KVM had delivered then (see the resolver).
            const bool kvm_switch = kind == trace::InputKind::VcpuSwitch && input.position;
            if (kind != trace::InputKind::ClockSkip && !kvm_switch &&
                input.rip != vcpus_[input.vcpu].cpu.rip) {
                throw Divergence{what + " expected RIP " + hex(input.rip) +
                                 " but the replay is at " + hex(vcpus_[input.vcpu].cpu.rip)};
            }
            if (debug && debug->stop_at_delivery && interpreter_->deliveries_since_retire()) {
                // Inputs come before a count's exceptions: none is due here.
                throw Divergence{what + " is due after an exception was delivered"};
            }
            const bool watching = debug && debug->use_watchpoints && !watches_.empty();
            if (watching && interpreter_->memory().has_watch_hit()) {
                (void)interpreter_->memory().take_watch_hit();
            }
            cursor_.last_input = input;
            ++cursor_.next_record;
            ++cursor_.inputs;
            switch (kind) {
            case trace::InputKind::Interrupt:
                apply_recorded_resume_flag(vcpu().cpu, input);
                interpreter_->deliver_external_interrupt(static_cast<uint8_t>(input.address));
                break;
            case trace::InputKind::Nmi:
                apply_recorded_resume_flag(vcpu().cpu, input);
                interpreter_->deliver_nmi();
                break;
            case trace::InputKind::ClockSkip:
                cursor_.skipped[input.vcpu] += input.value;
                break;
            case trace::InputKind::VcpuSwitch:
                // Under KVM the leaving vCPU's resume flag is in the record.
                apply_recorded_resume_flag(vcpu().cpu, input);
                switch_to_vcpu(input.vcpu);
                break;
            case trace::InputKind::VcpuInit:
                apply_init(vcpus_[input.vcpu].cpu);
                if (input.vcpu == cursor_.current) {
                    interpreter_->switch_vcpu(vcpu(), 0, Interpreter::kNoRip);
                } else {
                    cursor_.deliveries[input.vcpu] = 0;
                    cursor_.last_retired_rips[input.vcpu] = Interpreter::kNoRip;
                }
                break;
            case trace::InputKind::VcpuStartup:
                apply_startup(vcpus_[input.vcpu].cpu, static_cast<uint8_t>(input.address));
                if (input.vcpu == cursor_.current) {
                    interpreter_->switch_vcpu(vcpu(), 0, Interpreter::kNoRip);
                }
                break;
            default:
                throw Divergence{what + ": this kind of input cannot be replayed yet"};
            }
            if (watching && interpreter_->memory().has_watch_hit()) {
                // The interrupt frame landed on watched memory.
                Hit hit{TimelineStopKind::Watchpoint, now(), 0,
                        interpreter_->memory().take_watch_hit()};
                if (note_hit(debug, hit)) {
                    return false;
                }
            }
        } else if (const auto* end = std::get_if<trace::RecordEnd>(r)) {
            if (end->final_instruction_count > target.instructions) {
                break;
            }
            trace::RecordEnd record = *end;
            if (!execute_to(record.final_instruction_count, "the end of the recording", debug)) {
                return false;
            }
            cursor_.end = record;
            ++cursor_.next_record;
        } else {
            ++cursor_.next_record;
        }
    }
    if (!execute_to(std::max(target.instructions, count()), "the position asked for", debug)) {
        return false;
    }
    // Exceptions delivered at the target's count, after its inputs.
    while (target.deliveries > interpreter_->deliveries_since_retire() &&
           count() == target.instructions) {
        RunControl control;
        control.stop_after_deliveries = target.deliveries;
        StopReason r = interpreter_->run(local_count(target.instructions + 1), control);
        if (r != StopReason::Delivered) {
            throw Divergence{"no exception " + std::to_string(target.deliveries) +
                             " is delivered at instruction " + std::to_string(target.instructions)};
        }
    }
    return true;
}

bool ReplaySession::Impl::run_to(const TimelinePosition& target) {
    if (broken_) {
        return false;
    }
    try {
        discard_modifications();
        focus_ = target.instructions;
        advance(normalize(target), nullptr);
    } catch (const Divergence& d) {
        fail(d.what);
        return false;
    }
    return true;
}

bool ReplaySession::Impl::seek(const TimelinePosition& requested) {
    if (broken_) {
        return false;
    }
    const TimelinePosition target = normalize(requested);
    try {
        discard_modifications();
        focus_ = target.instructions;
        if (target < now()) {
            if (checkpoints_.empty()) {
                fail("cannot go back to " + to_string(target) +
                     ": this session keeps no checkpoints");
                return false;
            }
            auto it = std::prev(checkpoints_.upper_bound(target));
            restore(it->first);
            const uint64_t distance = target.instructions - it->first.instructions;
            if (distance > 2 * kDensestCheckpoints) {
                const uint64_t stride = std::max(distance / 8, kDensestCheckpoints);
                for (uint64_t c = it->first.instructions + stride; c < target.instructions;
                     c += stride) {
                    wanted_checkpoints_.push_back(c);
                }
            }
        }
        advance(target, nullptr);
        wanted_checkpoints_.clear();
    } catch (const Divergence& d) {
        wanted_checkpoints_.clear();
        fail(d.what);
        return false;
    }
    return true;
}

void ReplaySession::Impl::discard_modifications() {
    if (!modified_) {
        return;
    }
    const TimelinePosition here = now();
    auto it = std::prev(checkpoints_.upper_bound(here));
    restore(it->first);
    advance(here, nullptr);
}

TimelinePosition ReplaySession::Impl::previous_position() {
    const TimelinePosition here = now();
    if (here.deliveries > 0) {
        return {here.instructions, here.inputs, here.deliveries - 1};
    }
    if (cursor_.last_input && cursor_.last_input->instruction_count == here.instructions &&
        !is_synchronous(cursor_.last_input->kind)) {
        return {here.instructions, here.inputs - 1, 0};
    }
    // Before the previous instruction, with its count's inputs applied;
    // if it faulted, after the last exception it raised.
    const uint64_t count = here.instructions - 1;
    if (!seek({count, TimelinePosition::kAllInputs, 0})) {
        throw Divergence{divergence_};
    }
    const TimelinePosition before = now();
    if (checkpoint_memory_ && !checkpoints_.count(before)) {
        take_checkpoint();
    }
    uint32_t deliveries = 0;
    for (;;) {
        DebugRun probe;
        probe.stop_at_delivery = true;
        probe.use_breakpoints = false;
        probe.use_watchpoints = false;
        if (advance({here.instructions, 0, 0}, &probe)) {
            break;
        }
        if (!probe.delivered) {
            // Only deliveries stop a probe without breakpoints or watchpoints.
            throw Divergence{"stepping back from " + to_string(here) + " stopped unexpectedly"};
        }
        deliveries = interpreter_->deliveries_since_retire();
    }
    return {before.instructions, before.inputs, deliveries};
}

TimelineStop ReplaySession::Impl::step(Direction direction) {
    if (broken_) {
        return {TimelineStopKind::Diverged, 0, {}};
    }
    try {
        discard_modifications();
        if (direction == Direction::Forward) {
            if (at_end()) {
                return {TimelineStopKind::TraceEnd, 0, {}};
            }
            const TimelinePosition here = now();
            focus_ = here.instructions;
            const TimelinePosition next_input = normalize({here.instructions, here.inputs + 1, 0});
            DebugRun debug;
            debug.stop_at_delivery = true;
            debug.skip_breakpoint_at = here;
            if (here.deliveries == 0 && next_input.inputs > here.inputs) {
                advance(next_input, &debug);
            } else {
                advance({here.instructions + 1, 0, 0}, &debug);
            }
            for (const Hit& hit : debug.hits) {
                if (hit.kind == TimelineStopKind::Watchpoint) {
                    return {TimelineStopKind::Watchpoint, 0, hit.watch};
                }
            }
            return {at_end() ? TimelineStopKind::TraceEnd : TimelineStopKind::Step, 0, {}};
        }
        if (now() <= normalize({start_, 0, 0})) {
            return {TimelineStopKind::TraceStart, 0, {}};
        }
        TimelinePosition previous = previous_position();
        if (!seek(previous)) {
            return {TimelineStopKind::Diverged, 0, {}};
        }
        return {TimelineStopKind::Step, 0, {}};
    } catch (const Divergence& d) {
        return diverged(d);
    }
}

TimelineStop ReplaySession::Impl::resume(Direction direction,
                                         const std::function<bool()>& interrupted) {
    if (broken_) {
        return {TimelineStopKind::Diverged, 0, {}};
    }
    try {
        discard_modifications();
        if (direction == Direction::Forward) {
            if (at_end()) {
                return {TimelineStopKind::TraceEnd, 0, {}};
            }
            DebugRun debug;
            debug.skip_breakpoint_at = now();
            debug.interrupted = &interrupted;
            const bool reached = advance(end_position(), &debug);
            focus_ = count();
            if (!reached && !debug.hits.empty()) {
                const Hit& hit = debug.hits.back();
                return {hit.kind, hit.breakpoint, hit.watch};
            }
            if (!reached && debug.was_interrupted) {
                return {TimelineStopKind::Interrupted, 0, {}};
            }
            return {TimelineStopKind::TraceEnd, 0, {}};
        }

        const TimelinePosition origin = now();
        const TimelinePosition first = normalize({start_, 0, 0});
        if (origin <= first) {
            return {TimelineStopKind::TraceStart, 0, {}};
        }
        if (checkpoints_.empty()) {
            throw Divergence{"cannot run backward: this session keeps no checkpoints"};
        }
        TimelinePosition segment_end = origin;
        for (;;) {
            auto it = checkpoints_.lower_bound(segment_end);
            if (it == checkpoints_.begin()) {
                seek(first);
                return {TimelineStopKind::TraceStart, 0, {}};
            }
            const TimelinePosition segment_start = std::prev(it)->first;
            restore(segment_start);
            DebugRun scan;
            scan.collect = true;
            advance(segment_end, &scan);
            // The last hit before the origin: a breakpoint strictly before
            // it, a watched access that completed by it.
            const Hit* last = nullptr;
            for (const Hit& hit : scan.hits) {
                const bool before =
                    hit.kind == TimelineStopKind::Breakpoint ? hit.at < origin : hit.at <= origin;
                if (before && (!last || hit.at > last->at ||
                               (hit.at == last->at && hit.kind == TimelineStopKind::Breakpoint))) {
                    last = &hit;
                }
            }
            if (last) {
                const Hit hit = *last;
                focus_ = hit.at.instructions;
                if (!seek(hit.at)) {
                    return {TimelineStopKind::Diverged, 0, {}};
                }
                if (hit.kind == TimelineStopKind::Watchpoint) {
                    // Stop before the access, as a reverse-running CPU would.
                    if (!seek(previous_position())) {
                        return {TimelineStopKind::Diverged, 0, {}};
                    }
                }
                return {hit.kind, hit.breakpoint, hit.watch};
            }
            segment_end = segment_start;
            if (interrupted && interrupted()) {
                seek(segment_start);
                return {TimelineStopKind::Interrupted, 0, {}};
            }
        }
    } catch (const Divergence& d) {
        return diverged(d);
    }
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
    return impl_->count();
}
TimelinePosition ReplaySession::now() const {
    return impl_->now();
}
TimelinePosition ReplaySession::start() const {
    return impl_->normalize({impl_->start_, 0, 0});
}
bool ReplaySession::at_end() const {
    return impl_->at_end();
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
    return impl_->run_to({instructions, 0, 0});
}
bool ReplaySession::seek(uint64_t instructions) {
    return impl_->seek({instructions, 0, 0});
}
bool ReplaySession::seek(const TimelinePosition& position) {
    return impl_->seek(position);
}
void ReplaySession::set_breakpoints(std::vector<uint64_t> addresses) {
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    impl_->breakpoints_ = std::move(addresses);
}
void ReplaySession::set_watchpoints(std::vector<WatchRange> ranges) {
    if (ranges != impl_->watches_) {
        impl_->watches_ = ranges;
        impl_->interpreter_->memory().set_watch_ranges(std::move(ranges));
    }
}
TimelineStop ReplaySession::step(Direction direction) {
    return impl_->step(direction);
}
TimelineStop ReplaySession::resume(Direction direction, const std::function<bool()>& interrupted) {
    return impl_->resume(direction, interrupted);
}
size_t ReplaySession::read_virtual(uint64_t address, std::span<uint8_t> out) {
    return impl_->interpreter_->memory().debug_read(address, out);
}
size_t ReplaySession::write_virtual(uint64_t address, std::span<const uint8_t> in) {
    if (!impl_->checkpoint_memory_) {
        return 0; // without checkpoints a change could not be undone
    }
    // debug_write marks the pages dirty (so restoring covers them) and
    // drops decoded code on them.
    size_t done = impl_->interpreter_->memory().debug_write(address, in);
    if (done) {
        impl_->modified_ = true;
    }
    return done;
}
VcpuState& ReplaySession::modify_vcpu() {
    impl_->modified_ = impl_->checkpoint_memory_ != nullptr;
    return impl_->vcpu();
}
VcpuState& ReplaySession::modify_vcpu(unsigned index) {
    impl_->modified_ = impl_->checkpoint_memory_ != nullptr;
    return impl_->vcpus_.at(index);
}
unsigned ReplaySession::current_vcpu() const {
    return impl_->cursor_.current;
}
unsigned ReplaySession::vcpu_count() const {
    return static_cast<unsigned>(impl_->vcpus_.size());
}
const VcpuState& ReplaySession::vcpu(unsigned index) const {
    return impl_->vcpus_.at(index);
}
bool ReplaySession::modified() const {
    return impl_->modified_;
}
const std::vector<trace::InputRecord>& ReplaySession::inputs() const {
    return impl_->inputs_;
}
std::vector<CheckpointInfo> ReplaySession::checkpoints() const {
    std::vector<CheckpointInfo> out;
    for (const auto& [position, checkpoint] : impl_->checkpoints_) {
        out.push_back({position, impl_->checkpoint_memory_->pages_at(position)});
    }
    return out;
}
uint64_t ReplaySession::checkpoint_bytes() const {
    return impl_->checkpoint_memory_ ? impl_->checkpoint_memory_->bytes() +
                                           impl_->checkpoints_.size() * sizeof(Impl::Checkpoint)
                                     : 0;
}
size_t ReplaySession::checkpoint_count() const {
    return impl_->checkpoints_.size();
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
std::string ReplaySession::console_so_far() const {
    return impl_->replayed_console_.substr(0, impl_->cursor_.replayed_console);
}
const std::string& ReplaySession::divergence() const {
    return impl_->divergence_;
}
const VcpuState& ReplaySession::vcpu() const {
    return impl_->vcpu();
}
const GuestMemory& ReplaySession::memory() const {
    return impl_->memory_;
}

} // namespace krr
