#include "gdbserver/gdb_server.h"

#include "gdbserver/hex_text.h"
#include "gdbserver/packet_codec.h"
#include "gdbserver/x86_64_target.h"
#include "guest-model/error.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <sstream>

namespace krr::gdb {

namespace {

constexpr int64_t kProcess = 1;
constexpr uint8_t kSigTrap = 5;
constexpr uint8_t kSigInt = 2;
constexpr uint8_t kErrorFault = 0x0e;   // EFAULT: memory not mapped
constexpr uint8_t kErrorInvalid = 0x16; // EINVAL

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string hex_address(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

// Z2/Z3/Z4 as a WatchKind's value.
uint8_t watch_kind_code(BreakpointType type) {
    const WatchKind kind = type == BreakpointType::WriteWatchpoint  ? WatchKind::Write
                           : type == BreakpointType::ReadWatchpoint ? WatchKind::Read
                                                                    : WatchKind::Access;
    return static_cast<uint8_t>(kind);
}

std::vector<std::string> split_words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> words;
    std::string w;
    while (in >> w) {
        words.push_back(w);
    }
    return words;
}

std::optional<uint64_t> parse_count(const std::string& text) {
    uint64_t v = 0;
    std::string digits = text;
    digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
    digits.erase(std::remove(digits.begin(), digits.end(), ','), digits.end());
    int base = 10;
    std::string_view view(digits);
    if (view.size() > 2 && view[0] == '0' && (view[1] == 'x' || view[1] == 'X')) {
        base = 16;
        view.remove_prefix(2);
    }
    auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), v, base);
    if (ec != std::errc() || end != view.data() + view.size() || view.empty()) {
        return std::nullopt;
    }
    return v;
}

const char* kHelp =
    "krr monitor commands:\n"
    "  when                      the current position: instruction count, inputs consumed\n"
    "  goto COUNT                move to instruction COUNT (before the inputs logged there)\n"
    "  goto input N              move to just before logged input N is consumed\n"
    "  info checkpoints          the checkpoints kept, and the memory they hold\n"
    "  info inputs [FROM[-TO]]   logged inputs (port/MMIO reads, interrupts, ...); without\n"
    "                            a range, the ten around the current position\n"
    "  help                      this text\n"
    "After `goto`, run `maintenance flush register-cache` (or `flushregs`) so gdb\n"
    "re-reads the registers. Memory and register writes last until the next move in\n"
    "time: a recording cannot be changed.\n";

} // namespace

GdbServer::GdbServer(ReplaySession& session, std::function<bool()> interrupted,
                     std::optional<SymbolTable> symbols)
    : session_(session), interrupted_(std::move(interrupted)), symbols_(std::move(symbols)) {}

std::optional<unsigned> GdbServer::vcpu_of(const ThreadId& thread) const {
    if (thread.has_pid && thread.pid != kProcess && thread.pid != ThreadId::kAll &&
        thread.pid != ThreadId::kAny) {
        return std::nullopt;
    }
    if (thread.tid == ThreadId::kAll || thread.tid == ThreadId::kAny) {
        return session_.current_vcpu();
    }
    if (thread.tid >= 1 && thread.tid <= static_cast<int64_t>(session_.vcpu_count())) {
        return static_cast<unsigned>(thread.tid - 1);
    }
    return std::nullopt;
}

bool GdbServer::is_our_thread(const ThreadId& thread) const {
    return vcpu_of(thread).has_value();
}

ThreadId GdbServer::thread_of(unsigned vcpu) const {
    return ThreadId{multiprocess_, kProcess, static_cast<int64_t>(vcpu) + 1};
}

std::string GdbServer::describe_position() const {
    const TimelinePosition now = session_.now();
    std::ostringstream o;
    o << "instruction " << now.instructions << " ("
      << now.instructions - session_.start_instruction() << " since the recording started, "
      << session_.end_instruction() - now.instructions << " before its end), input " << now.inputs
      << " of " << session_.inputs().size();
    if (now.deliveries) {
        o << ", after exception delivery " << now.deliveries;
    }
    if (session_.vcpu_count() > 1) {
        o << "; vCPU " << session_.current_vcpu() << " executes (thread "
          << session_.current_vcpu() + 1 << ")";
    }
    const uint64_t rip = session_.vcpu().cpu.rip;
    o << "; RIP " << hex_address(rip);
    if (symbols_) {
        if (auto m = symbols_->lookup(rip)) {
            o << " <" << m->symbol->name << "+" << m->offset << ">";
        }
    }
    return o.str();
}

std::string GdbServer::describe_input(uint64_t index) const {
    const trace::InputRecord& in = session_.inputs().at(index);
    std::ostringstream o;
    o << "#" << index << "  instruction " << in.instruction_count << "  "
      << trace::input_kind_name(in.kind);
    switch (static_cast<trace::InputKind>(in.kind)) {
    case trace::InputKind::PortRead:
        o << " port " << hex_address(in.address) << " (" << int(in.size)
          << " bytes) = " << hex_address(in.value);
        break;
    case trace::InputKind::MmioRead:
        o << " " << hex_address(in.address) << " (" << int(in.size)
          << " bytes) = " << hex_address(in.value);
        break;
    case trace::InputKind::Interrupt:
        o << " vector " << in.address;
        break;
    case trace::InputKind::ClockSkip:
        o << " " << in.value << " instructions' worth of time";
        break;
    default:
        o << " value " << hex_address(in.value);
        break;
    }
    o << "  at RIP " << hex_address(in.rip);
    if (symbols_) {
        if (auto m = symbols_->lookup(in.rip)) {
            o << " <" << m->symbol->name << "+" << m->offset << ">";
        }
    }
    return o.str();
}

// When the user moves after changing memory or registers: the note gdb
// prints before the stop.
std::string GdbServer::moved_note() {
    if (!modified_at_) {
        return {};
    }
    std::string note = "krr: the memory and register changes made at " + to_string(*modified_at_) +
                       " are discarded: a recording cannot be changed\n";
    modified_at_.reset();
    return note;
}

void GdbServer::update_watchpoints() {
    std::vector<WatchRange> ranges;
    for (const auto& [address, length, kind] : watchpoints_) {
        ranges.push_back({address, length, static_cast<WatchKind>(kind)});
    }
    session_.set_watchpoints(std::move(ranges));
}

Reply GdbServer::stop_reply_for(const TimelineStop& stop) {
    StopReply r;
    selected_ = session_.current_vcpu();
    r.thread = thread_of(selected_);
    r.multiprocess = multiprocess_;
    switch (stop.kind) {
    case TimelineStopKind::Step:
    case TimelineStopKind::Breakpoint:
        break;
    case TimelineStopKind::Watchpoint:
        r.address = stop.watch.address;
        r.cause = stop.watch.kind == WatchKind::Write  ? StopCause::WriteWatchpoint
                  : stop.watch.kind == WatchKind::Read ? StopCause::ReadWatchpoint
                                                       : StopCause::AccessWatchpoint;
        break;
    case TimelineStopKind::TraceStart:
        r.cause = StopCause::ReplayBegin;
        break;
    case TimelineStopKind::TraceEnd:
        r.cause = StopCause::ReplayEnd;
        break;
    case TimelineStopKind::Interrupted:
        r.signal = kSigInt;
        break;
    case TimelineStopKind::Diverged: {
        Reply dead = terminated_reply(kSigTrap);
        dead.console_output.push_back("krr: the replay cannot go on: " + session_.divergence() +
                                      "\n");
        return dead;
    }
    }
    last_stop_ = stop;
    return stop_reply(r);
}

Reply GdbServer::current_stop_reply() {
    if (last_stop_) {
        return stop_reply_for(*last_stop_);
    }
    return stop_reply_for(TimelineStop{TimelineStopKind::Step, 0, {}});
}

// Forward: until `vcpu` has executed a transition (an instruction, or an
// exception or interrupt it took). Backward: until the transition undone
// was one of `vcpu`'s.
TimelineStop GdbServer::step_vcpu(Direction direction, unsigned vcpu) {
    for (;;) {
        const unsigned before = session_.current_vcpu();
        TimelineStop stop = session_.step(direction);
        if (stop.kind != TimelineStopKind::Step) {
            return stop;
        }
        const unsigned after = session_.current_vcpu();
        const bool mine =
            direction == Direction::Forward ? before == vcpu && after == vcpu : after == vcpu;
        if (mine || session_.vcpu_count() == 1) {
            return stop;
        }
        if (interrupted_ && interrupted_()) {
            return TimelineStop{TimelineStopKind::Interrupted, 0, {}};
        }
    }
}

Reply GdbServer::resume(Direction direction, bool single_step, std::optional<unsigned> vcpu) {
    std::string note = moved_note();
    TimelineStop stop = single_step ? step_vcpu(direction, vcpu.value_or(selected_))
                                    : session_.resume(direction, interrupted_);
    Reply reply = stop_reply_for(stop);
    if (!note.empty()) {
        reply.console_output.insert(reply.console_output.begin(), note);
    }
    return reply;
}

std::string GdbServer::monitor(const std::string& command) {
    const std::vector<std::string> words = split_words(command);
    if (words.empty() || words[0] == "help") {
        return kHelp;
    }
    if (words[0] == "when" && words.size() == 1) {
        return describe_position() + "\n";
    }
    if (words[0] == "goto") {
        std::optional<TimelinePosition> target;
        if (words.size() == 2) {
            if (auto count = parse_count(words[1])) {
                target = TimelinePosition{*count, 0, 0};
            }
        } else if (words.size() == 3 && words[1] == "input") {
            if (auto n = parse_count(words[2])) {
                if (*n >= session_.inputs().size()) {
                    return "krr: there are only " + std::to_string(session_.inputs().size()) +
                           " inputs (0 to " + std::to_string(session_.inputs().size() - 1) + ")\n";
                }
                target = TimelinePosition{session_.inputs()[*n].instruction_count, *n, 0};
            }
        }
        if (!target) {
            return "krr: usage: goto COUNT | goto input N\n";
        }
        if (target->instructions < session_.start_instruction() ||
            target->instructions > session_.end_instruction()) {
            return "krr: instruction " + std::to_string(target->instructions) +
                   " is outside the recording (" + std::to_string(session_.start_instruction()) +
                   " to " + std::to_string(session_.end_instruction()) + ")\n";
        }
        std::string note = moved_note();
        if (!session_.seek(*target)) {
            return note + "krr: the replay cannot go on: " + session_.divergence() + "\n";
        }
        last_stop_.reset();
        return note + "now at " + describe_position() +
               "\n(run `maintenance flush register-cache` so gdb shows it)\n";
    }
    if (words[0] == "info" && words.size() >= 2 && words[1] == "checkpoints" && words.size() == 2) {
        std::ostringstream o;
        const auto list = session_.checkpoints();
        o << list.size() << " checkpoints, " << session_.checkpoint_bytes() / 1024
          << " KiB of guest pages:\n";
        for (const CheckpointInfo& c : list) {
            o << "  " << to_string(c.position) << "  (" << c.pages << " pages)\n";
        }
        return o.str();
    }
    if (words[0] == "info" && words.size() >= 2 && words[1] == "inputs" && words.size() <= 3) {
        const uint64_t total = session_.inputs().size();
        if (total == 0) {
            return "the recording logged no inputs\n";
        }
        uint64_t from = 0, to = 0;
        if (words.size() == 3) {
            const std::string& range = words[2];
            const size_t dash = range.find('-');
            auto a = parse_count(range.substr(0, dash));
            auto b = dash == std::string::npos ? a : parse_count(range.substr(dash + 1));
            if (!a || !b || *b < *a) {
                return "krr: usage: info inputs [FROM[-TO]]\n";
            }
            from = *a;
            to = std::min(*b, total - 1);
            if (from >= total) {
                return "krr: there are only " + std::to_string(total) + " inputs\n";
            }
            if (to - from > 1000) {
                to = from + 1000;
            }
        } else {
            const uint64_t here = session_.now().inputs;
            from = here > 5 ? here - 5 : 0;
            to = std::min(total - 1, from + 9);
        }
        std::ostringstream o;
        const uint64_t here = session_.now().inputs;
        for (uint64_t i = from; i <= to; ++i) {
            o << (i == here ? "=> " : "   ") << describe_input(i) << "\n";
        }
        if (here >= total) {
            o << "=> (every input has been consumed)\n";
        }
        return o.str();
    }
    return "krr: unknown monitor command '" + command + "'; try `monitor help`\n";
}

Reply GdbServer::handle(const GdbRequest& request) {
    return std::visit(
        Overloaded{
            [&](const QuerySupported& q) {
                multiprocess_ =
                    std::any_of(q.features.begin(), q.features.end(), [](const GdbFeature& f) {
                        return f.name == "multiprocess" && f.value == "+";
                    });
                return supported_reply(kMaxPacketSize, multiprocess_);
            },
            [&](const ReadFeatureDocument& r) {
                if (r.annex != "target.xml") {
                    return error_reply(0);
                }
                return xfer_reply(target_description_xml(), r.offset, r.length);
            },
            [&](const QueryAttached&) { return Reply{"1"}; },
            [&](const QueryCurrentThread&) {
                return Reply{"QC" +
                             format_thread_id(thread_of(session_.current_vcpu()), multiprocess_)};
            },
            [&](const QueryThreadListStart&) {
                std::string list = "m";
                for (unsigned i = 0; i < session_.vcpu_count(); ++i) {
                    list += (i ? "," : "") + format_thread_id(thread_of(i), multiprocess_);
                }
                return Reply{list};
            },
            [&](const QueryThreadListNext&) { return Reply{"l"}; },
            [&](const QueryOffsets&) { return empty_reply(); },
            [&](const QuerySymbol&) { return ok_reply(); },
            [&](const QueryStopReason&) { return current_stop_reply(); },
            [&](const ReadRegisters&) {
                return hex_reply(encode_register_image(session_.vcpu(selected_).cpu));
            },
            [&](const WriteRegisters& w) {
                try {
                    CpuState cpu = session_.vcpu(selected_).cpu;
                    decode_register_image(w.image, cpu);
                    session_.modify_vcpu(selected_).cpu = cpu;
                    modified_at_ = session_.now();
                    return ok_reply();
                } catch (const Error&) {
                    return error_reply(kErrorInvalid);
                }
            },
            [&](const ReadRegister& r) {
                try {
                    return hex_reply(read_register(session_.vcpu(selected_).cpu, r.number));
                } catch (const Error&) {
                    return error_reply(kErrorInvalid);
                }
            },
            [&](const WriteRegister& w) {
                try {
                    CpuState cpu = session_.vcpu(selected_).cpu;
                    write_register(cpu, w.number, w.value);
                    session_.modify_vcpu(selected_).cpu = cpu;
                    modified_at_ = session_.now();
                    return ok_reply();
                } catch (const Error&) {
                    return error_reply(kErrorInvalid);
                }
            },
            [&](const ReadMemory& m) {
                // Two hex digits per byte must fit one packet.
                const uint64_t length = std::min<uint64_t>(m.length, kMaxPacketSize / 2 - 16);
                std::vector<uint8_t> bytes(length);
                const size_t done = session_.read_virtual(m.address, bytes);
                if (done == 0 && length != 0) {
                    return error_reply(kErrorFault);
                }
                bytes.resize(done);
                return hex_reply(bytes);
            },
            [&](const WriteMemory& w) {
                if (w.data.empty()) {
                    return ok_reply();
                }
                const size_t done = session_.write_virtual(w.address, w.data);
                if (done != w.data.size()) {
                    return error_reply(kErrorFault);
                }
                modified_at_ = session_.now();
                return ok_reply();
            },
            [&](const InsertBreakpoint& z) {
                switch (z.type) {
                case BreakpointType::Software:
                case BreakpointType::Hardware:
                    breakpoints_.insert(z.address);
                    session_.set_breakpoints({breakpoints_.begin(), breakpoints_.end()});
                    return ok_reply();
                default:
                    if (z.kind == 0 || z.address + (z.kind - 1) < z.address) {
                        return error_reply(kErrorInvalid);
                    }
                    watchpoints_.insert({z.address, z.kind, watch_kind_code(z.type)});
                    update_watchpoints();
                    return ok_reply();
                }
            },
            [&](const RemoveBreakpoint& z) {
                switch (z.type) {
                case BreakpointType::Software:
                case BreakpointType::Hardware:
                    breakpoints_.erase(z.address);
                    session_.set_breakpoints({breakpoints_.begin(), breakpoints_.end()});
                    return ok_reply();
                default:
                    watchpoints_.erase({z.address, z.kind, watch_kind_code(z.type)});
                    update_watchpoints();
                    return ok_reply();
                }
            },
            [&](const QueryResumeActions&) { return resume_actions_reply(); },
            [&](const Resume& r) {
                for (const ResumeAction& action : r.actions) {
                    if (action.thread && !is_our_thread(*action.thread)) {
                        continue;
                    }
                    const std::optional<unsigned> vcpu =
                        action.thread ? vcpu_of(*action.thread) : std::nullopt;
                    switch (action.kind) {
                    case ResumeAction::Kind::Continue:
                        return resume(Direction::Forward, false);
                    case ResumeAction::Kind::Step:
                        return resume(Direction::Forward, true, vcpu);
                    case ResumeAction::Kind::Stop:
                        return stop_reply_for(TimelineStop{TimelineStopKind::Interrupted, 0, {}});
                    }
                }
                return error_reply(kErrorInvalid);
            },
            [&](const Continue& c) {
                if (c.address) {
                    return error_reply(kErrorInvalid); // a recording's RIP cannot be changed
                }
                return resume(Direction::Forward, false);
            },
            [&](const Step& s) {
                if (s.address) {
                    return error_reply(kErrorInvalid);
                }
                return resume(Direction::Forward, true);
            },
            [&](const ReverseContinue&) { return resume(Direction::Backward, false); },
            [&](const ReverseStep&) { return resume(Direction::Backward, true); },
            [&](const SetThread& h) {
                const std::optional<unsigned> vcpu = vcpu_of(h.thread);
                if (!vcpu) {
                    return error_reply(kErrorInvalid);
                }
                if (h.operation == SetThread::Operation::General) {
                    selected_ = *vcpu;
                }
                return ok_reply();
            },
            [&](const QueryThreadAlive& t) {
                return is_our_thread(t.thread) ? ok_reply() : error_reply(kErrorInvalid);
            },
            [&](const QueryThreadExtraInfo& t) {
                if (!is_our_thread(t.thread)) {
                    return error_reply(kErrorInvalid);
                }
                const unsigned vcpu = *vcpu_of(t.thread);
                const bool executing = vcpu == session_.current_vcpu();
                return hex_text_reply("vCPU " + std::to_string(vcpu) +
                                      (executing ? ", executing" : "") + ", " +
                                      std::to_string(session_.vcpu(vcpu).instructions_retired) +
                                      " instructions retired; machine instruction " +
                                      std::to_string(session_.now().instructions));
            },
            [&](const MustReplyEmpty&) { return empty_reply(); },
            [&](const StartNoAckMode&) { return ok_reply(); },
            [&](const Kill& k) {
                Reply r = k.pid ? ok_reply() : Reply{};
                r.silent = !k.pid;
                r.end_session = true;
                return r;
            },
            [&](const Detach&) {
                Reply r = ok_reply();
                r.end_session = true;
                return r;
            },
            [&](const MonitorCommand& m) { return hex_text_reply(monitor(m.command)); },
            [&](const Interrupt&) {
                return stop_reply_for(TimelineStop{TimelineStopKind::Interrupted, 0, {}});
            },
            [&](const UnknownRequest&) { return empty_reply(); },
            [&](const MalformedRequest&) { return error_reply(1); },
        },
        request);
}

} // namespace krr::gdb
