#include "activity/activity_indexer.h"

#include "activity/crash_line.h"
#include "activity/kernel_reading.h"
#include "activity/open_entries.h"
#include "activity/task_layout.h"
#include "guest-model/error.h"
#include "guest-model/symbols.h"
#include "guest-model/trace/trace_reader.h"
#include "replay-engine/replay/replay_session.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <unistd.h>

namespace krr::activity {

namespace fs = std::filesystem;

namespace {

enum class Probe : uint8_t {
    Syscall,
    SyscallExit,
    Exception,
    Interrupt, // an interrupt's entry code; the event itself is the log's
    Iret,      // the IRETQ every exception and interrupt returns through
    TaskStart, // ret_from_fork: a new task, nothing of its own open yet
    Switch,
};

struct ProbePoint {
    Probe probe;
    const ExceptionHandler* exception = nullptr;
    bool vector_pushed = false; // for Interrupt: the stub pushed the vector
};

// What the pass saw of a logged interrupt: its entry and its return.
struct InterruptSeen {
    uint64_t interrupted_rip = 0;
    std::string task;
    uint64_t returned_at = 0;
    uint64_t returned_to = 0;
};

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Error("activity index: " + path, "cannot read it");
    }
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The console cut into lines, each with where it started and ended.
class ConsoleLineCutter {
public:
    void add(uint8_t byte, const TimelinePosition& at, uint32_t vcpu,
             std::vector<ActivityEvent>& events, std::optional<ActivityEvent>& crash) {
        if (!in_line_) {
            start_ = at;
            in_line_ = true;
        }
        if (byte == '\n') {
            finish(at, vcpu, events, crash);
        } else if (byte != '\r' && line_.size() < 1024) {
            line_.push_back(static_cast<char>(byte));
        }
    }
    void finish(const TimelinePosition& at, uint32_t vcpu, std::vector<ActivityEvent>& events,
                std::optional<ActivityEvent>& crash) {
        if (!in_line_) {
            return;
        }
        ActivityEvent e;
        e.kind = EventKind::Console;
        e.vcpu = vcpu;
        e.position = at;
        e.text = line_;
        if (!crash && is_crash_line(line_)) {
            ActivityEvent c = e;
            c.kind = EventKind::Crash;
            c.position = start_;
            crash = c;
        }
        events.push_back(std::move(e));
        line_.clear();
        in_line_ = false;
    }

private:
    std::string line_;
    TimelinePosition start_;
    bool in_line_ = false;
};

} // namespace

KernelFiles kernel_files_beside(const trace::TraceMetadata& metadata) {
    fs::path dir = fs::path(metadata.kernel.path).parent_path();
    return {(dir / "System.map").string(), (dir / "vmlinux").string()};
}

ActivityIndex build_activity_index(const std::string& trace_path, const IndexerOptions& options) {
    KernelFiles files = options.kernel;
    std::vector<ActivityEvent> events;
    std::optional<ActivityEvent> crash;
    ConsoleLineCutter console;
    ReplaySession* session_ptr = nullptr;

    ReplaySessionOptions session_options;
    session_options.console = [&](uint8_t byte) {
        if (session_ptr) {
            console.add(byte, session_ptr->now(), session_ptr->current_vcpu(), events, crash);
        }
    };
    ReplaySession session(trace_path, session_options);
    session_ptr = &session;
    if (files.system_map.empty()) {
        files = kernel_files_beside(session.metadata());
    }

    ActivityIndex index;
    // Without symbols the index still has the console, the crash and the
    // inputs; it says what is missing.
    std::string map_text;
    try {
        map_text = read_text_file(files.system_map);
    } catch (const Error& e) {
        index.notes.push_back(std::string("system calls, faults and switches skipped: ") +
                              e.what());
    }
    index.staleness_key = staleness_key(trace_path, map_text);
    index.start_instruction = session.start_instruction();
    index.end_instruction = session.end_instruction();
    SymbolTable symbols = SymbolTable::parse("", files.system_map);
    try {
        symbols = SymbolTable::parse(map_text, files.system_map);
    } catch (const Error& e) {
        index.notes.push_back(std::string("system calls, faults and switches skipped: ") +
                              e.what());
    }

    try {
        if (symbols.size() != 0) {
            index.tasks = read_task_layout(files.vmlinux);
        }
    } catch (const Error& e) {
        index.notes.push_back(std::string("task names and pids skipped: ") + e.what());
    }

    std::map<uint64_t, ProbePoint> probes;
    auto probe_at = [&](const std::string& name, ProbePoint point) {
        if (auto a = symbols.address_of(name)) {
            probes[*a] = point;
        } else {
            index.notes.push_back("no " + name + " in " + files.system_map);
        }
    };
    if (symbols.size() != 0) {
        probe_at("entry_SYSCALL_64", {Probe::Syscall});
        probe_at("__switch_to", {Probe::Switch});
        probe_at("syscall_exit_to_user_mode", {Probe::SyscallExit});
        // Exceptions and interrupts all leave through this IRETQ (NMIs
        // through their own, in asm_exc_nmi: their returns are not seen).
        probe_at("native_irq_return_iret", {Probe::Iret});
        probe_at("ret_from_fork", {Probe::TaskStart});
        // Device interrupts reach asm_common_interrupt (spurious ones
        // asm_spurious_interrupt) from stubs that push the vector; system
        // vectors (the APIC timer, IPIs) have an entry each.
        probe_at("asm_common_interrupt", {Probe::Interrupt, nullptr, true});
        probe_at("asm_spurious_interrupt", {Probe::Interrupt, nullptr, true});
        for (const Symbol& symbol : symbols.symbols()) {
            if (symbol.name.rfind("asm_sysvec_", 0) == 0) {
                probes[symbol.address] = {Probe::Interrupt, nullptr, false};
            }
        }
    }
    for (const auto& handler : exception_handlers()) {
        if (auto a = symbols.address_of(std::string("asm_exc_") + handler.name)) {
            probes[*a] = {Probe::Exception, &handler};
        }
    }
    std::vector<uint64_t> addresses;
    for (const auto& [address, point] : probes) {
        addresses.push_back(address);
    }
    session.set_breakpoints(addresses);

    const uint64_t total = index.end_instruction - index.start_instruction;
    auto poll = [&] {
        if (options.progress) {
            // 100% is said once, after the pass.
            const uint64_t done = session.position() - index.start_instruction;
            options.progress(std::min(done, total ? total - 1 : 0), total);
        }
        return false;
    };
    // The task running on each vCPU: the one switched to last there; before
    // the first switch, the per-CPU current_task (a per-CPU offset in
    // System.map up to 6.1).
    std::map<unsigned, uint64_t> current_tasks;
    std::map<uint64_t, size_t> open_calls; // task -> its system call in `events`
    OpenEntries open_entries;
    std::map<uint64_t, InterruptSeen> interrupts; // by the log's input index
    const uint64_t current_task_offset = [&]() -> uint64_t {
        auto offset = symbols.address_of("current_task");
        return offset && *offset < (1u << 24) ? *offset : 0;
    }();
    auto running_task = [&] {
        uint64_t& current_task = current_tasks[session.current_vcpu()];
        if (!current_task && current_task_offset) {
            current_task = read_current_task(session, current_task_offset);
        }
        return current_task;
    };
    auto task_text = [&]() -> std::string {
        const uint64_t task = running_task();
        if (auto name = task ? read_task(session, index.tasks, task) : std::nullopt) {
            return name->comm + "[" + std::to_string(name->pid) + "]";
        }
        return {};
    };
    // The key of the IRET frame whose RIP slot is at `frame`.
    auto frame_key = [&](uint64_t frame) {
        const bool from_user = (read_u64(session, frame + kIretFrameCs) & 3) == 3;
        return from_user ? OpenEntries::kFromUser : frame;
    };
    for (;;) {
        TimelineStop stop = session.resume(Direction::Forward, poll);
        if (stop.kind == TimelineStopKind::Diverged) {
            throw Error("activity index: " + trace_path,
                        "the replay diverged: " + session.divergence());
        }
        if (stop.kind != TimelineStopKind::Breakpoint) {
            break;
        }
        auto it = probes.find(stop.breakpoint);
        if (it == probes.end()) {
            continue;
        }
        const auto& cpu = session.vcpu().cpu;
        if (it->second.probe == Probe::Iret) {
            // IRETQ pops the frame at RSP: RIP, CS, RFLAGS, RSP, SS.
            const uint64_t frame = cpu.gpr[RSP];
            if (auto entry = open_entries.leave(running_task(), frame_key(frame))) {
                const uint64_t to = read_u64(session, frame);
                if (entry->input) {
                    interrupts[entry->index].returned_at = session.position();
                    interrupts[entry->index].returned_to = to;
                } else {
                    events[entry->index].returned_at = session.position();
                    events[entry->index].result = to;
                }
            }
            continue;
        }
        if (it->second.probe == Probe::TaskStart) {
            open_entries.forget_task(running_task());
            continue;
        }
        if (it->second.probe == Probe::Interrupt) {
            // The entry of the interrupt the log delivered last (once: an
            // entry reached otherwise is not that delivery's).
            const TimelinePosition now = session.now();
            const auto& inputs = session.inputs();
            if (now.inputs == 0 || now.inputs > inputs.size() ||
                inputs[now.inputs - 1].kind != static_cast<uint8_t>(trace::InputKind::Interrupt) ||
                interrupts.count(now.inputs - 1)) {
                continue;
            }
            const uint64_t input = now.inputs - 1;
            const uint64_t frame = cpu.gpr[RSP] + (it->second.vector_pushed ? 8 : 0);
            InterruptSeen& seen = interrupts[input];
            seen.interrupted_rip = read_u64(session, frame);
            seen.task = task_text();
            open_entries.enter(running_task(), frame_key(frame), {true, input});
            continue;
        }
        if (it->second.probe == Probe::SyscallExit) {
            // syscall_exit_to_user_mode(regs): the result of the call this
            // task made last, if its number matches (a new child's first
            // return has no call of its own here).
            auto open = open_calls.find(current_tasks[session.current_vcpu()]);
            if (open != open_calls.end()) {
                ActivityEvent& call = events[open->second];
                const uint64_t regs = cpu.gpr[RDI];
                if (read_u64(session, regs + kPtRegsOrigAx) == call.code) {
                    call.returned_at = session.position();
                    call.result = read_u64(session, regs + kPtRegsAx);
                }
                open_calls.erase(open);
            }
            continue;
        }
        ActivityEvent e;
        e.position = session.now();
        e.vcpu = session.current_vcpu();
        switch (it->second.probe) {
        case Probe::Syscall:
            e.kind = EventKind::Syscall;
            e.code = cpu.gpr[RAX];
            e.args = {cpu.gpr[RDI], cpu.gpr[RSI], cpu.gpr[RDX]};
            e.address = cpu.gpr[RCX];
            break;
        case Probe::Exception: {
            const ExceptionHandler& h = *it->second.exception;
            const uint64_t rsp = cpu.gpr[RSP];
            if (h.vector == 14) {
                e.kind = EventKind::PageFault;
                e.address = cpu.cr2;
                e.args = {read_u64(session, rsp), read_u64(session, rsp + 8), 0};
            } else {
                e.kind = EventKind::Exception;
                e.code = h.vector;
                e.address = read_u64(session, h.error_code ? rsp + 8 : rsp);
                e.args[0] = h.error_code ? read_u64(session, rsp) : 0;
                e.text = h.name;
            }
            break;
        }
        case Probe::SyscallExit: // handled above
        case Probe::Iret:
        case Probe::TaskStart:
        case Probe::Interrupt:
            break;
        case Probe::Switch: {
            e.kind = EventKind::ContextSwitch;
            const uint64_t next = cpu.gpr[RSI];
            e.address = next;
            e.args[0] = cpu.cr3;
            if (auto task = read_task(session, index.tasks, next)) {
                e.code = task->pid;
                e.text = task->comm;
            }
            current_tasks[session.current_vcpu()] = next;
            break;
        }
        }
        // Who made the call or took the fault: the task switched to last,
        // read now (an execve renames it).
        if (e.kind == EventKind::Syscall || e.kind == EventKind::PageFault) {
            e.text = task_text();
        }
        if (e.kind == EventKind::Syscall) {
            open_calls[running_task()] = events.size();
        }
        // An NMI returns through IRETQs of its own, not watched.
        if (it->second.probe == Probe::Exception && it->second.exception->vector != 2) {
            const ExceptionHandler& h = *it->second.exception;
            uint64_t key = frame_key(cpu.gpr[RSP] + (h.error_code ? 8 : 0));
            // int3 from kernel mode moves the frame 6 slots down, to leave
            // room for emulating a call (entry_64.S, idtentry).
            if (h.vector == 3 && key != OpenEntries::kFromUser) {
                key -= 48;
            }
            open_entries.enter(running_task(), key, {false, events.size()});
        }
        events.push_back(std::move(e));
    }
    console.finish(session.now(), 0, events, crash);
    if (crash) {
        events.push_back(*crash);
    }

    const auto& inputs = session.inputs();
    for (size_t i = 0; i < inputs.size(); ++i) {
        const auto& in = inputs[i];
        ActivityEvent e;
        e.vcpu = in.vcpu;
        e.position = {in.instruction_count, i, 0};
        if (in.kind == static_cast<uint8_t>(trace::InputKind::Interrupt)) {
            e.kind = EventKind::Interrupt;
            e.code = in.address;
            if (auto seen = interrupts.find(i); seen != interrupts.end()) {
                e.address = seen->second.interrupted_rip;
                e.text = seen->second.task;
                e.returned_at = seen->second.returned_at;
                e.result = seen->second.returned_to;
            }
        } else {
            e.kind = EventKind::Input;
            e.code = in.kind;
            e.address = in.address;
            e.args[0] = in.value;
            e.text = trace::input_kind_name(in.kind);
        }
        events.push_back(std::move(e));
    }
    for (auto& e : events) {
        e.position.instructions =
            std::clamp(e.position.instructions, index.start_instruction, index.end_instruction);
    }
    std::stable_sort(
        events.begin(), events.end(),
        [](const ActivityEvent& a, const ActivityEvent& b) { return a.position < b.position; });
    index.events = std::move(events);
    if (options.progress) {
        options.progress(total, total);
    }
    return index;
}

OpenedIndex open_activity_index(const std::string& trace_path, const IndexerOptions& options) {
    trace::TraceReader reader(trace_path); // a clear error for what is not a trace
    IndexerOptions resolved = options;
    if (resolved.kernel.system_map.empty()) {
        resolved.kernel = kernel_files_beside(reader.metadata());
    }
    OpenedIndex opened;
    const fs::path file = fs::path(trace_path) / kActivityFileName;
    std::string map_text;
    try {
        map_text = read_text_file(resolved.kernel.system_map);
    } catch (const Error&) {
        // Indexed without symbols; the index's notes say so.
    }
    const uint64_t key = staleness_key(trace_path, map_text);
    std::error_code ec;
    if (fs::exists(file, ec)) {
        try {
            const std::string bytes = read_text_file(file.string());
            ActivityIndex cached = decode_activity_index(
                {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
            if (cached.staleness_key == key) {
                opened.index = std::move(cached);
                return opened;
            }
            opened.cache_problem = "the cached index is stale";
        } catch (const Error& e) {
            opened.cache_problem = e.what();
        }
    }
    opened.index = build_activity_index(trace_path, resolved);
    opened.rebuilt = true;
    const std::vector<uint8_t> bytes = encode_activity_index(opened.index);
    const fs::path temporary =
        fs::path(trace_path) / (std::string(kActivityFileName) + ".tmp" + std::to_string(getpid()));
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        if (!out) {
            opened.cache_problem = "cannot write " + temporary.string();
        }
    }
    if (opened.cache_problem.rfind("cannot write", 0) != 0) {
        fs::rename(temporary, file, ec);
        if (ec) {
            opened.cache_problem = "cannot write " + file.string() + ": " + ec.message();
        }
    }
    fs::remove(temporary, ec);
    return opened;
}

} // namespace krr::activity
