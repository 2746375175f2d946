// krr timeline TRACE [--kind K[,K...]] [--from N] [--to M] [--json]: the
// activity index for scripts — the same events krr-tui browses, one a line
// or as JSON. The index is built on first use (a replay pass, with a
// progress bar when stderr is a terminal) and cached in the trace.
#include "activity/activity_indexer.h"
#include "activity/syscall_names.h"
#include "cli/commands.h"
#include "guest-model/error.h"
#include "guest-model/trace/json_writer.h"
#include "guest-model/trace/trace_reader.h"

#include <cstdio>
#include <set>
#include <unistd.h>

namespace krr::cli {

namespace {

using activity::ActivityEvent;
using activity::EventKind;

std::set<EventKind> parse_kinds(const std::vector<std::string>& values) {
    std::set<EventKind> kinds;
    for (const auto& value : values) {
        size_t start = 0;
        while (start <= value.size()) {
            size_t comma = value.find(',', start);
            std::string name =
                value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            auto kind = activity::event_kind_from_name(name);
            if (!kind) {
                std::string known;
                for (auto k : activity::all_event_kinds()) {
                    known += (known.empty() ? "" : ", ") + std::string(event_kind_name(k));
                }
                throw Error("timeline: --kind " + name, "unknown kind; the kinds are " + known);
            }
            kinds.insert(*kind);
            if (comma == std::string::npos) {
                break;
            }
            start = comma + 1;
        }
    }
    return kinds;
}

void progress_bar(uint64_t done, uint64_t total) {
    const int width = 40;
    int filled = total ? static_cast<int>(done * width / total) : width;
    std::fprintf(stderr, "\rindexing [%-*.*s] %3d%%", width, filled,
                 "########################################",
                 total ? static_cast<int>(done * 100 / total) : 100);
    if (done >= total) {
        std::fprintf(stderr, "\n");
    }
    std::fflush(stderr);
}

std::string safe(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
    }
    return out;
}

// An exception's, page fault's or interrupt's IRETQ.
void json_return(JsonWriter& j, const ActivityEvent& e) {
    if (e.returned_at) {
        j.key("returned_at");
        j.value(e.returned_at);
        j.key("returned_to");
        j.value(e.result);
    }
}

void json_event(JsonWriter& j, const ActivityEvent& e) {
    j.begin_object();
    j.key("kind");
    j.value(activity::event_kind_name(e.kind));
    j.key("count");
    j.value(e.position.instructions);
    j.key("inputs");
    j.value(e.position.inputs);
    j.key("deliveries");
    j.value(uint64_t{e.position.deliveries});
    j.key("vcpu");
    j.value(uint64_t{e.vcpu});
    switch (e.kind) {
    case EventKind::Syscall:
        j.key("number");
        j.value(e.code);
        j.key("name");
        j.value(activity::syscall_name(e.code));
        j.key("args");
        j.begin_array();
        for (uint64_t a : e.args) {
            j.value(a);
        }
        j.end_array();
        j.key("user_rip");
        j.value(e.address);
        if (e.returned_at) {
            j.key("returned_at");
            j.value(e.returned_at);
            j.key("result");
            j.value(e.result);
        }
        j.key("task");
        j.value(e.text);
        break;
    case EventKind::Exception:
        j.key("vector");
        j.value(e.code);
        j.key("name");
        j.value(e.text);
        j.key("rip");
        j.value(e.address);
        j.key("error_code");
        j.value(e.args[0]);
        json_return(j, e);
        break;
    case EventKind::PageFault:
        j.key("vector");
        j.value(uint64_t{14});
        j.key("address");
        j.value(e.address);
        j.key("error_code");
        j.value(e.args[0]);
        j.key("rip");
        j.value(e.args[1]);
        j.key("task");
        j.value(e.text);
        json_return(j, e);
        break;
    case EventKind::Interrupt:
        j.key("vector");
        j.value(e.code);
        if (e.address) {
            j.key("rip");
            j.value(e.address);
            j.key("task");
            j.value(e.text);
        }
        json_return(j, e);
        break;
    case EventKind::ContextSwitch:
        j.key("task");
        j.value(e.address);
        j.key("cr3");
        j.value(e.args[0]);
        if (!e.text.empty()) {
            j.key("pid");
            j.value(e.code);
            j.key("comm");
            j.value(e.text);
        }
        break;
    case EventKind::Console:
    case EventKind::Crash:
        j.key("line");
        j.value(e.text);
        break;
    case EventKind::Input:
        j.key("input");
        j.value(e.text);
        j.key("address");
        j.value(e.address);
        j.key("value");
        j.value(e.args[0]);
        break;
    }
    j.key("text");
    j.value(describe_event(e));
    j.end_object();
}

int run_timeline(const ParsedArgs& args) {
    const std::string path = args.positional.at(0);
    std::set<EventKind> kinds = parse_kinds(args.all("kind"));
    const uint64_t from = args.get_u64("from").value_or(0);
    const uint64_t to = args.get_u64("to").value_or(UINT64_MAX);
    if (from > to) {
        throw Error("timeline", "--from is after --to");
    }

    activity::IndexerOptions options;
    if (args.has("system-map") || args.has("vmlinux")) {
        activity::KernelFiles beside =
            activity::kernel_files_beside(trace::TraceReader(path).metadata());
        options.kernel.system_map = args.get("system-map").value_or(beside.system_map);
        options.kernel.vmlinux = args.get("vmlinux").value_or(beside.vmlinux);
    }
    if (isatty(STDERR_FILENO)) {
        options.progress = progress_bar;
    }
    activity::OpenedIndex opened = activity::open_activity_index(path, options);
    if (opened.rebuilt && !opened.cache_problem.empty() &&
        opened.cache_problem.rfind("cannot write", 0) == 0) {
        std::fprintf(stderr, "krr: timeline: note: %s\n", opened.cache_problem.c_str());
    }
    const auto& index = opened.index;
    auto wanted = [&](const ActivityEvent& e) {
        return (kinds.empty() || kinds.count(e.kind)) && e.position.instructions >= from &&
               e.position.instructions <= to;
    };

    if (args.has("json")) {
        JsonWriter j;
        j.begin_object();
        j.key("trace");
        j.value(path);
        j.key("start");
        j.value(index.start_instruction);
        j.key("end");
        j.value(index.end_instruction);
        j.key("task_names");
        j.value(index.tasks.known);
        j.key("notes");
        j.begin_array();
        for (const auto& n : index.notes) {
            j.value(n);
        }
        j.end_array();
        j.key("events");
        j.begin_array();
        for (const auto& e : index.events) {
            if (wanted(e)) {
                json_event(j, e);
            }
        }
        j.end_array();
        j.end_object();
        std::printf("%s\n", j.text().c_str());
        return 0;
    }
    for (const auto& n : index.notes) {
        std::printf("# note: %s\n", safe(n).c_str());
    }
    // With several vCPUs each line says which one the event happened on.
    bool several_vcpus = false;
    for (const auto& e : index.events) {
        several_vcpus = several_vcpus || e.vcpu != 0;
    }
    for (const auto& e : index.events) {
        if (wanted(e)) {
            const std::string cpu = several_vcpus ? "cpu" + std::to_string(e.vcpu) + "  " : "";
            std::printf("%14llu  %s%-10s  %s\n",
                        static_cast<unsigned long long>(e.position.instructions), cpu.c_str(),
                        std::string(activity::event_kind_name(e.kind)).c_str(),
                        safe(describe_event(e)).c_str());
        }
    }
    return 0;
}

} // namespace

CommandSpec timeline_command() {
    CommandSpec spec;
    spec.name = "timeline";
    spec.usage = "TRACE [--kind K[,K...]] [--from N] [--to M] [--json]";
    spec.summary = "list what the kernel did in a trace (the activity index)";
    spec.description =
        "Prints the trace's activity index: system calls, exceptions, page faults, interrupts, "
        "context switches, console lines, logged inputs and the crash, each at its instruction "
        "count. The index is built by a replay pass on first use and cached in the trace "
        "(file 'activity'). Kinds: syscall, exception, page-fault, interrupt, switch, console, "
        "input, crash.";
    spec.options = {
        {"kind", 'k', "K[,K...]", "only these kinds of event", true},
        {"from", 0, "N", "only events at instruction count N or later"},
        {"to", 0, "M", "only events at instruction count M or earlier"},
        {"json", 0, "", "print JSON"},
        {"system-map", 0, "FILE", "the kernel's System.map (default: beside the trace's kernel)"},
        {"vmlinux", 0, "FILE",
         "the kernel's vmlinux with DWARF, for task names (default: beside it)"},
    };
    spec.min_positional = 1;
    spec.max_positional = 1;
    spec.run = run_timeline;
    return spec;
}

} // namespace krr::cli
