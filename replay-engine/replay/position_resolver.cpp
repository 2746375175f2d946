#include "replay-engine/replay/position_resolver.h"

#include "guest-model/error.h"
#include "guest-model/guest_memory.h"
#include "guest-model/state_hash.h"
#include "guest-model/trace/emulator_clock_state.h"
#include "guest-model/trace/trace_positions.h"
#include "guest-model/trace/trace_reader.h"
#include "guest-model/virtual_clock.h"
#include "replay-engine/interpreter/interpreter.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <optional>
#include <variant>
#include <vector>

namespace krr {

namespace {

constexpr uint64_t kRf = 1ULL << 16;

std::string hex(uint64_t v) {
    char buffer[24];
    std::snprintf(buffer, sizeof buffer, "%#llx", static_cast<unsigned long long>(v));
    return buffer;
}

std::string describe(const trace::InputRecord& in) {
    std::string s = trace::input_kind_name(in.kind) + " at RIP " + hex(in.rip);
    switch (static_cast<trace::InputKind>(in.kind)) {
    case trace::InputKind::PortRead:
        s += " of port " + hex(in.address);
        break;
    case trace::InputKind::MmioRead:
        s += " of " + hex(in.address);
        break;
    case trace::InputKind::Interrupt:
        s += ", vector " + std::to_string(in.address);
        break;
    default:
        break;
    }
    return s;
}

class Resolver;

// The emulator's view of the recording while resolving: reads come from
// the log in order, writes go nowhere.
class ResolveEnvironment final : public CpuEnvironment {
public:
    explicit ResolveEnvironment(Resolver& resolver) : resolver_(resolver) {}
    uint64_t io_read(uint16_t port, int size) override;
    uint64_t mmio_read(uint64_t physical, int size) override;
    void io_write(uint16_t port, int, uint64_t value) override;
    void mmio_write(uint64_t, int, uint64_t) override {}
    uint64_t virtual_tsc(uint64_t) override;

private:
    Resolver& resolver_;
    uint8_t line_control_ = 0;
    uint8_t modem_control_ = 0;
};

class Resolver {
public:
    Resolver(const std::string& path, const ResolveOptions& options)
        : path_(path), options_(options), trace_(path), memory_(trace_.metadata().memory_size) {
        trace::LoadedSnapshot snapshot = trace_.load_snapshot(memory_);
        if (snapshot.vcpus.empty()) {
            throw Error("resolving " + path, "the snapshot has no vCPU");
        }
        vcpus_ = snapshot.vcpus;
        deliveries_.assign(vcpus_.size(), 0);
        last_retired_rips_.assign(vcpus_.size(), Interpreter::kNoRip);
        trace::LogReader log = trace_.log();
        while (auto record = log.next()) {
            records_.push_back(std::move(*record));
        }
        counts_.assign(records_.size(), trace::kUnresolvedCount);
        for (size_t i = 0; i < records_.size(); ++i) {
            const auto* c = std::get_if<trace::ConsoleRecord>(&records_[i]);
            if (c && c->instruction_count == trace::kUnresolvedCount && !c->bytes.empty()) {
                console_records_.push_back(i);
            }
        }
        total_ = trace::unresolved_records(records_);
        environment_.emplace(*this);
        for (const trace::DeviceState& device : snapshot.devices) {
            if (device.name == kEmulatorClockDevice) {
                trace::EmulatorClockState clock = trace::decode_emulator_clock(
                    device.data, vcpus_.size(), "the emulator clock in " + path);
                current_ = clock.current;
                for (size_t i = 0; i < vcpus_.size(); ++i) {
                    deliveries_[i] = clock.vcpus[i].deliveries;
                    last_retired_rips_[i] = clock.vcpus[i].last_retired_rip;
                }
            }
        }
        interpreter_.emplace(vcpus_[current_], memory_, *environment_, trace_.metadata().cpuid);
        interpreter_->kernel_rotates_write_overflow = trace_.metadata().kvm_flavor == "pvm";
        interpreter_->set_position_detail(deliveries_[current_], last_retired_rips_[current_]);
    }

    uint64_t total() const { return total_; }
    void mark_start() { start_count_ = now(); }

    ResolveResult run() {
        ResolveResult result;
        while (next_ < records_.size()) {
            const trace::LogRecord& r = records_[next_];
            if (const auto* in = std::get_if<trace::InputRecord>(&r)) {
                if (trace::is_synchronous_input(in->kind)) {
                    consume_synchronous_inputs_to_next_position();
                    continue;
                }
                if (!in->position) {
                    throw Error("resolving " + path_, "input #" + std::to_string(input_number()) +
                                                          " (" + describe(*in) +
                                                          ") has no position to find");
                }
                trace::InputRecord input = *in;
                // A switch's position is the leaving vCPU's, at the RIP its
                // address field carries (its rip is the arriving one's).
                const bool is_switch =
                    input.kind == static_cast<uint8_t>(trace::InputKind::VcpuSwitch);
                find(*input.position, is_switch ? input.address : input.rip, describe(input),
                     is_switch);
                place(next_++);
                ++result.positions;
                if (is_switch) {
                    switch_to(input);
                } else {
                    deliver(input);
                }
            } else if (const auto* end = std::get_if<trace::RecordEnd>(&r)) {
                if (end->position) {
                    trace::StatePosition position = *end->position;
                    find(position, std::nullopt, "the end of the recording");
                    ++result.positions;
                }
                place(next_++);
            } else if (std::holds_alternative<trace::StateHashRecord>(r)) {
                // The recorder writes it just before the end, at the end's
                // state: it takes the end's count (see place()).
                pending_hashes_.push_back(next_++);
            } else {
                place(next_++); // console: by its first byte (console_byte)
            }
        }
        for (size_t i : pending_hashes_) {
            counts_[i] = now();
        }
        pending_hashes_.clear();
        trace::ResolvedPositions positions;
        positions.log_key = trace::log_key(path_);
        for (size_t i = 0; i < records_.size(); ++i) {
            if (trace::is_unresolved(records_[i])) {
                positions.counts.push_back(counts_[i]);
            }
        }
        for (size_t i = 1; i < positions.counts.size(); ++i) {
            if (positions.counts[i] < positions.counts[i - 1]) {
                throw Error("resolving " + path_, "the counts found go backwards (a state hash "
                                                  "before the end of the recording?)");
            }
        }
        trace::write_positions(path_, positions);
        result.records = positions.counts.size();
        result.instructions = now() - start_count_;
        result.near_misses = near_misses_;
        return result;
    }

    // A byte the emulator wrote to the console: the first of a console
    // record gives that record its count.
    void console_byte() {
        if (next_console_ >= console_records_.size()) {
            return; // more than was recorded: verification reports it
        }
        const size_t index = console_records_[next_console_];
        const auto& c = std::get<trace::ConsoleRecord>(records_[index]);
        if (console_offset_ == 0) {
            counts_[index] = now();
        }
        if (++console_offset_ == c.bytes.size()) {
            console_offset_ = 0;
            ++next_console_;
        }
    }

    // A synchronous read the emulator makes: the log's next input must be
    // that read, at that RIP.
    uint64_t take(trace::InputKind kind, uint64_t address, int size) {
        while (next_ < records_.size() &&
               std::holds_alternative<trace::ConsoleRecord>(records_[next_])) {
            place(next_++);
        }
        std::string made =
            trace::input_kind_name(static_cast<uint8_t>(kind)) + " at RIP " + hex(vcpu().cpu.rip) +
            (kind == trace::InputKind::Rdtsc ? std::string() : " of " + hex(address));
        const auto* in =
            next_ < records_.size() ? std::get_if<trace::InputRecord>(&records_[next_]) : nullptr;
        if (!in) {
            throw Error("resolving " + path_,
                        "the emulator made a " + made + " at instruction " + std::to_string(now()) +
                            " where the log has no further input" +
                            (searching_ ? " (looking for " + sought_ + search_summary() + ")"
                                        : std::string()));
        }
        if (in->kind != static_cast<uint8_t>(kind) || in->address != address ||
            (kind != trace::InputKind::Rdtsc && in->size != size) || in->rip != vcpu().cpu.rip) {
            throw Error("resolving " + path_,
                        "the emulator made a " + made + " at instruction " + std::to_string(now()) +
                            " where the log's input #" + std::to_string(input_number()) + " is a " +
                            describe(*in) + (in->position ? search_summary() : std::string()));
        }
        uint64_t value = in->value;
        place(next_++);
        return value;
    }

private:
    // The machine's count: every vCPU's retired instructions (the count a
    // recording with several vCPUs pins its records to).
    uint64_t now() const {
        uint64_t total = 0;
        for (const VcpuState& v : vcpus_) {
            total += v.instructions_retired;
        }
        return total;
    }
    VcpuState& vcpu() { return vcpus_[current_]; }

    // A switch, found: the vCPU leaving keeps its place (and the resume
    // flag KVM had for it); the one named runs from now on.
    void switch_to(const trace::InputRecord& input) {
        if (input.vcpu >= vcpus_.size()) {
            throw Error("resolving " + path_, "a switch to vCPU " + std::to_string(input.vcpu) +
                                                  " of " + std::to_string(vcpus_.size()));
        }
        apply_recorded_resume_flag(vcpu().cpu, input);
        deliveries_[current_] = interpreter_->deliveries_since_retire();
        last_retired_rips_[current_] = interpreter_->last_retired_rip();
        current_ = input.vcpu;
        interpreter_->switch_vcpu(vcpus_[current_], deliveries_[current_],
                                  last_retired_rips_[current_]);
    }

    uint64_t input_number() const {
        uint64_t n = 0;
        for (size_t i = 0; i < next_ && i < records_.size(); ++i) {
            n += std::holds_alternative<trace::InputRecord>(records_[i]) ? 1 : 0;
        }
        return n;
    }

    void place(size_t index) {
        if (std::holds_alternative<trace::ConsoleRecord>(records_[index])) {
            // Counted by its bytes (console_byte); one the emulator never
            // wrote takes the count where the log has it.
            if (counts_[index] == trace::kUnresolvedCount) {
                counts_[index] = now();
            }
        } else {
            counts_[index] = now();
        }
        if (trace::is_unresolved(records_[index])) {
            ++done_;
            if (options_.progress && (done_ % 256 == 0 || done_ == total_)) {
                options_.progress(done_, total_);
            }
        }
    }

    // Runs until the log's next record is not a synchronous input (they
    // are consumed on the way), for a trace whose remaining synchronous
    // inputs precede a position or the log's end.
    void consume_synchronous_inputs_to_next_position() {
        const uint64_t limit = now() + options_.max_instructions_per_position;
        while (next_ < records_.size() && is_synchronous_record(records_[next_])) {
            StopReason r = interpreter_->run(vcpu().instructions_retired + 1);
            if (r == StopReason::ReachedTarget || r == StopReason::ExitRequested) {
                if (now() >= limit) {
                    throw Error("resolving " + path_,
                                "the emulator ran " +
                                    std::to_string(options_.max_instructions_per_position) +
                                    " instructions without making input #" +
                                    std::to_string(input_number()));
                }
                continue;
            }
            fail_run(r, "input #" + std::to_string(input_number()));
        }
    }

    static bool is_synchronous_record(const trace::LogRecord& r) {
        const auto* in = std::get_if<trace::InputRecord>(&r);
        return in && trace::is_synchronous_input(in->kind);
    }

    static bool registers_match(const CpuState& cpu, const trace::StatePosition& position) {
        return cpu.gpr == position.gpr && (cpu.rflags & ~kRf) == position.rflags;
    }

    bool matches(const trace::StatePosition& position) {
        if (!registers_match(vcpu().cpu, position)) {
            note_closest(position);
            return false;
        }
        ++register_matches_;
        // The page tables the recorder knew at this position: those of
        // every earlier position and this one's (see KvmAccelerator).
        std::vector<uint64_t> tables = page_table_pages(memory_, vcpu().cpu.cr3);
        std::vector<uint64_t> known;
        std::set_union(page_tables_.begin(), page_tables_.end(), tables.begin(), tables.end(),
                       std::back_inserter(known));
        if (pages_hash(memory_, position.pages, known) != position.memory_hash) {
            return false;
        }
        page_tables_ = std::move(known);
        return true;
    }

    // The visit at the position's RIP with the fewest differing registers,
    // for the report when no visit matches.
    void note_closest(const trace::StatePosition& position) {
        static const char* kNames[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                       "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
        std::string differences;
        int count = 0;
        for (size_t i = 0; i < position.gpr.size(); ++i) {
            if (vcpu().cpu.gpr[i] != position.gpr[i]) {
                ++count;
                differences += std::string(" ") + kNames[i] + " " + hex(position.gpr[i]) +
                               " (emulator " + hex(vcpu().cpu.gpr[i]) + ")";
            }
        }
        if ((vcpu().cpu.rflags & ~kRf) != position.rflags) {
            ++count;
            differences += " rflags " + hex(position.rflags) + " (emulator " +
                           hex(vcpu().cpu.rflags & ~kRf) + ")";
        }
        if (closest_differences_.empty() || count < closest_count_) {
            closest_count_ = count;
            closest_differences_ = "; the closest visit, at instruction " + std::to_string(now()) +
                                   ", differs in" + differences;
        }
    }

    // What a failure report says of the search: how close it came.
    std::string search_summary() const {
        return " (at its RIP " + std::to_string(rip_visits_) + " times, with its registers " +
               std::to_string(register_matches_) + " times but other memory" +
               closest_differences_ + ")";
    }

    // Runs to the first point where the state matches `position`, whose
    // RIP is `rip` (the end's comes from its final state hash). Away from
    // that RIP the emulator runs to a breakpoint on it; there it steps one
    // instruction (or REP iteration) at a time, comparing at each.
    void find(const trace::StatePosition& position, std::optional<uint64_t> rip,
              const std::string& what, bool switching = false) {
        const uint64_t limit = now() + options_.max_instructions_per_position;
        const uint64_t target_rip = rip ? *rip : end_rip(position);
        std::vector<uint64_t> breakpoints{target_rip};
        // A REP string instruction there may be left mid-way: step through
        // its iterations. Elsewhere, after the first visits (kept for the
        // report), the emulator stops only where the registers match.
        const bool rep_target = rep_string_length(*interpreter_, vcpu().cpu, target_rip) != 0;
        uint64_t unfiltered_visits = 1000;
        struct Searching {
            Resolver& self;
            ~Searching() { self.searching_ = false; }
        } searching{*this};
        searching_ = true;
        sought_ = what + " at RIP " + hex(target_rip);
        rip_visits_ = 0;
        register_matches_ = 0;
        closest_differences_.clear();
        for (;;) {
            if (stepped_from_target_ && vcpu().cpu.rip != target_rip) {
                // Just past the instruction at the position's RIP: a REP
                // the recording's KVM left with RIP on it?
                const uint64_t past = vcpu().cpu.rip;
                if (rewind_to_finished_rep(*interpreter_, vcpu().cpu, target_rip)) {
                    if (matches(position)) {
                        return;
                    }
                    vcpu().cpu.rip = past;
                }
            }
            stepped_from_target_ = false;
            rip_visits_ += vcpu().cpu.rip == target_rip ? 1 : 0;
            if (vcpu().cpu.rip == target_rip && matches(position)) {
                // A switch may come just after KVM delivered an exception:
                // replay switches before the faulting instruction instead,
                // which the vCPU executes (and faults on) when it runs
                // again; nothing the other vCPUs do sees the difference
                // (the frame is on its own stack).
                if (interpreter_->deliveries_since_retire() != 0 && !switching) {
                    throw Error("resolving " + path_,
                                what + " is at instruction " + std::to_string(now()) +
                                    " after an exception was delivered there; replay "
                                    "positions cannot express that");
                }
                return;
            }
            if (now() >= limit) {
                throw Error("resolving " + path_,
                            "no state matching " + what + " within " +
                                std::to_string(options_.max_instructions_per_position) +
                                " instructions of the previous input (the emulator and the "
                                "recording differ before it)" +
                                search_summary() + "; at instruction " + std::to_string(now()) +
                                ", RIP " + hex(vcpu().cpu.rip));
            }
            StopReason r;
            if (vcpu().cpu.rip == target_rip) {
                ++near_misses_;
                unfiltered_visits -= unfiltered_visits ? 1 : 0;
            }
            if (vcpu().cpu.rip == target_rip && rep_target) {
                stepped_from_target_ = true;
                r = interpreter_->run(vcpu().instructions_retired + 1); // one iteration
            } else {
                RunControl control;
                control.breakpoints = &breakpoints;
                control.skip_breakpoint_at_start = vcpu().cpu.rip == target_rip;
                // Not for a REP string instruction: the position may be
                // part-way through it, or past its last iteration with RIP
                // left on it, where RCX, RSI and RDI differ from the first
                // iteration's, at which a filtered breakpoint would never
                // stop (each arrival is then stepped through instead).
                if (!unfiltered_visits && !rep_target) {
                    control.breakpoint_registers = &position.gpr;
                }
                // The interpreter counts the running vCPU's instructions;
                // `limit` is the machine's count.
                r = interpreter_->run(vcpu().instructions_retired + (limit - now()), control);
            }
            switch (r) {
            case StopReason::ReachedTarget:
            case StopReason::ExitRequested:
            case StopReason::Breakpoint:
                continue;
            case StopReason::Halted:
                if (vcpu().cpu.rip == target_rip && matches(position)) {
                    return;
                }
                throw Error("resolving " + path_, "the emulator halted at instruction " +
                                                      std::to_string(now()) + ", RIP " +
                                                      hex(vcpu().cpu.rip) + ", before reaching " +
                                                      what + search_summary());
            default:
                fail_run(r, what);
            }
        }
    }

    // The recorder stores the end's full state in the state hash it writes
    // just before the end record.
    uint64_t end_rip(const trace::StatePosition&) const {
        for (size_t i : pending_hashes_) {
            const auto& h = std::get<trace::StateHashRecord>(records_[i]);
            if (!h.vcpu_state.empty()) {
                return trace::decode_vcpu_state(h.vcpu_state).cpu.rip;
            }
        }
        throw Error("resolving " + path_,
                    "the end of the recording has no final state to find it by");
    }

    [[noreturn]] void fail_run(StopReason r, const std::string& what) {
        throw Error("resolving " + path_,
                    std::string("the emulator stopped (") + stop_reason_name(r) +
                        ") at instruction " + std::to_string(now()) + ", RIP " +
                        hex(vcpu().cpu.rip) + ", before reaching " + what +
                        (interpreter_->error().empty() ? "" : ": " + interpreter_->error()));
    }

    void deliver(const trace::InputRecord& input) {
        if (input.vcpu != current_) {
            throw Error("resolving " + path_, describe(input) + " is for vCPU " +
                                                  std::to_string(input.vcpu) + " while vCPU " +
                                                  std::to_string(current_) + " runs");
        }
        apply_recorded_resume_flag(vcpu().cpu, input);
        switch (static_cast<trace::InputKind>(input.kind)) {
        case trace::InputKind::Interrupt:
            interpreter_->deliver_external_interrupt(static_cast<uint8_t>(input.address));
            break;
        case trace::InputKind::Nmi:
            interpreter_->deliver_nmi();
            break;
        default:
            throw Error("resolving " + path_, "input #" + std::to_string(input_number() - 1) +
                                                  " (" + describe(input) +
                                                  ") is not a kind a recording under KVM makes");
        }
        if (!interpreter_->error().empty()) {
            throw Error("resolving " + path_,
                        "delivering " + describe(input) + ": " + interpreter_->error());
        }
    }

    std::string path_;
    ResolveOptions options_;
    trace::TraceReader trace_;
    GuestMemory memory_;
    std::vector<VcpuState> vcpus_;
    unsigned current_ = 0;
    // The position detail of each vCPU not running (Interpreter::switch_vcpu).
    std::vector<uint32_t> deliveries_;
    std::vector<uint64_t> last_retired_rips_;
    std::vector<trace::LogRecord> records_;
    std::vector<uint64_t> counts_;
    std::vector<size_t> pending_hashes_;
    std::vector<size_t> console_records_; // unresolved, in log order
    size_t next_console_ = 0;
    size_t console_offset_ = 0; // bytes of console_records_[next_console_] written
    size_t next_ = 0;
    uint64_t total_ = 0;
    uint64_t done_ = 0;
    uint64_t near_misses_ = 0;
    uint64_t start_count_ = 0;
    uint64_t rip_visits_ = 0;       // for the position sought now
    uint64_t register_matches_ = 0; // likewise
    std::string closest_differences_;
    bool stepped_from_target_ = false;
    bool searching_ = false; // for a position (find)
    std::string sought_;
    std::vector<uint64_t> page_tables_; // ascending
    int closest_count_ = 0;
    std::optional<ResolveEnvironment> environment_;
    std::optional<Interpreter> interpreter_;
};

void ResolveEnvironment::io_write(uint16_t port, int, uint64_t value) {
    // The console's bytes (COM1's transmit register, as replay rebuilds
    // the console): each console record's count is where its first byte
    // was written.
    constexpr uint16_t kConsolePort = 0x3f8;
    if (port == kConsolePort + 3) {
        line_control_ = static_cast<uint8_t>(value);
    } else if (port == kConsolePort + 4) {
        modem_control_ = static_cast<uint8_t>(value);
    } else if (port == kConsolePort && !(line_control_ & 0x80) && !(modem_control_ & 0x10)) {
        resolver_.console_byte();
    }
}

uint64_t ResolveEnvironment::io_read(uint16_t port, int size) {
    return resolver_.take(trace::InputKind::PortRead, port, size);
}
uint64_t ResolveEnvironment::mmio_read(uint64_t physical, int size) {
    return resolver_.take(trace::InputKind::MmioRead, physical, size);
}
uint64_t ResolveEnvironment::virtual_tsc(uint64_t) {
    return resolver_.take(trace::InputKind::Rdtsc, 0, 8);
}

std::vector<trace::LogRecord> read_log(const std::string& path) {
    trace::TraceReader trace(path);
    trace::LogReader log = trace.log();
    std::vector<trace::LogRecord> records;
    while (auto record = log.next()) {
        records.push_back(std::move(*record));
    }
    return records;
}

} // namespace

unsigned rep_string_length(Interpreter& interpreter, const CpuState& cpu, uint64_t rip) {
    uint8_t bytes[15] = {};
    size_t fetched = 0;
    try {
        fetched = interpreter.memory().fetch(rip, bytes, (cpu.seg[CS].selector & 3) == 3);
    } catch (...) {
        return 0;
    }
    // Prefixes (one of them REP/REPNE), then a string opcode.
    bool rep = false;
    size_t i = 0;
    for (; i < fetched; ++i) {
        uint8_t b = bytes[i];
        if (b == 0xf3 || b == 0xf2) {
            rep = true;
        } else if (!(b == 0x66 || b == 0x67 || b == 0x2e || b == 0x3e || b == 0x26 || b == 0x36 ||
                     b == 0x64 || b == 0x65 || (b & 0xf0) == 0x40)) {
            break;
        }
    }
    if (!rep || i == fetched) {
        return 0;
    }
    uint8_t op = bytes[i];
    bool string_op =
        (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) || (op >= 0x6c && op <= 0x6f);
    return string_op ? static_cast<unsigned>(i + 1) : 0;
}

bool rewind_to_finished_rep(Interpreter& interpreter, CpuState& cpu, uint64_t recorded_rip) {
    if (cpu.gpr[RCX] != 0 || cpu.rip <= recorded_rip) {
        return false;
    }
    const unsigned length = rep_string_length(interpreter, cpu, recorded_rip);
    if (!length || cpu.rip != recorded_rip + length) {
        return false;
    }
    cpu.rip = recorded_rip;
    return true;
}

void apply_recorded_resume_flag(CpuState& cpu, const trace::InputRecord& input) {
    if (input.position) {
        cpu.rflags = (cpu.rflags & ~kRf) | (input.value & kRf);
    }
}

bool needs_resolving(const std::string& path) {
    if (trace::unresolved_records(read_log(path)) == 0) {
        return false;
    }
    try {
        return !trace::read_positions(path);
    } catch (const Error&) {
        return true; // stale or damaged: made again
    }
}

ResolveResult resolve_positions(const std::string& path, const ResolveOptions& options) {
    Resolver resolver(path, options);
    resolver.mark_start();
    if (resolver.total() == 0) {
        ResolveResult r;
        r.already_resolved = true;
        return r;
    }
    return resolver.run();
}

} // namespace krr
