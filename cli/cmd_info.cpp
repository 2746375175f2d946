// krr info TRACE [--json]: what is in a trace, read defensively. Exit status:
// 0 for a complete trace, 3 for a truncated one (everything readable is still
// printed), 1 for anything unreadable or corrupt.
#include "cli/commands.h"
#include "guest-model/error.h"
#include "guest-model/trace/json_writer.h"
#include "guest-model/trace/trace_positions.h"
#include "guest-model/trace/trace_reader.h"
#include "guest-model/trace/trace_summary.h"
#include "guest-model/virtual_clock.h"

#include <cstdio>
#include <ctime>
#include <set>
#include <string>

namespace krr::cli {

namespace {

using trace::TraceHealth;
using trace::TraceSummary;

constexpr int kExitTruncated = 3;
constexpr int kExitCorrupt = 1;

// Trace strings come from a guest and a file; keep the terminal safe.
std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string shell_word(const std::string& s) {
    if (!s.empty() && s.find_first_of(" \t'\"\\$`") == std::string::npos) {
        return printable(s);
    }
    std::string out = "'";
    for (char c : s) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return printable(out + "'");
}

std::string human_bytes(uint64_t n) {
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[64];
    if (u == 0) {
        std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
    } else {
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    }
    return buf;
}

std::string utc_time(uint64_t seconds) {
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    char buf[64];
    if (!gmtime_r(&t, &tm) || !std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm)) {
        return std::to_string(seconds) + " s after the epoch";
    }
    return buf;
}

size_t distinct_leaves(const CpuidTable& t) {
    std::set<uint32_t> leaves;
    for (const auto& e : t.entries) {
        leaves.insert(e.leaf);
    }
    return leaves.size();
}

std::string counts_text(const std::map<std::string, uint64_t>& counts) {
    std::string out;
    for (const auto& [name, n] : counts) {
        out += (out.empty() ? "" : ", ") + name + " " + std::to_string(n);
    }
    return out.empty() ? "none" : out;
}

std::string status_text(const TraceSummary& s) {
    switch (s.health()) {
    case TraceHealth::Complete:
        return "complete";
    case TraceHealth::Truncated:
        return "truncated";
    case TraceHealth::Corrupt:
        return "corrupt";
    }
    return "unknown";
}

void print_text(const TraceSummary& s) {
    const auto& m = s.metadata;
    auto line = [](const char* label, const std::string& value) {
        std::printf("%-15s %s\n", label, value.c_str());
    };
    line("trace:", printable(s.path));
    line("format:", "version " + std::to_string(m.format_version) + ", written by krr " +
                        printable(m.krr_version) + " at " + utc_time(m.creation_time));
    line("kernel:", printable(m.kernel.path) + " (" + printable(m.kernel.version) + ")");
    line("kernel hash:", printable(m.kernel.content_hash));
    line("command line:", printable(m.kernel_command_line));
    std::string argv;
    for (const auto& a : m.guest_command) {
        argv += (argv.empty() ? "" : " ") + shell_word(a);
    }
    line("guest command:", argv.empty() ? "(none)" : argv);
    line("memory:", human_bytes(m.memory_size) + " (" + std::to_string(m.memory_size) + " bytes)");
    line("vCPUs:", std::to_string(m.vcpu_count));
    line("accelerator:", printable(m.accelerator));
    line("CPUID:", std::to_string(m.cpuid.entries.size()) + " entries, " +
                       std::to_string(distinct_leaves(m.cpuid)) + " leaves");

    const auto& snap = s.snapshot;
    std::string devices;
    for (const auto& d : snap.devices) {
        devices += (devices.empty() ? "" : ", ") + printable(d);
    }
    line("snapshot:", std::to_string(snap.pages) + " pages (" + human_bytes(snap.pages * 4096) +
                          "), " + std::to_string(snap.vcpus) + " vCPU states, " +
                          std::to_string(snap.devices.size()) + " devices" +
                          (devices.empty() ? "" : " (" + devices + ")"));
    line("", std::to_string(snap.progress.chunks) + " chunks, " +
                 human_bytes(snap.progress.stored_bytes) + " stored for " +
                 human_bytes(snap.progress.uncompressed_bytes) +
                 (snap.complete ? "" : "; incomplete"));

    const auto& log = s.log;
    if (!log.present) {
        line("log:", "missing");
    } else {
        line("log:", std::to_string(log.progress.chunks) + " chunks, " +
                         human_bytes(log.progress.stored_bytes) + " stored for " +
                         human_bytes(log.progress.uncompressed_bytes));
        line("records:", counts_text(log.records_by_kind));
        line("inputs:", counts_text(log.inputs_by_kind));
        if (log.unresolved_records) {
            line("positions:", std::to_string(log.unresolved_records) +
                                   " records recorded under KVM " +
                                   (log.positions_resolved
                                        ? std::string("resolved (file 'positions')")
                                        : "not resolved yet (krr resolve; replay does it first)" +
                                              (log.positions_problem.empty()
                                                   ? std::string()
                                                   : ": " + printable(log.positions_problem))));
        }
        if (log.first_instruction && (!log.unresolved_records || log.positions_resolved)) {
            uint64_t last = log.end ? log.end->final_instruction_count : *log.last_instruction;
            // The snapshot's count, unless the log contradicts it (then the
            // first logged record is the best start there is).
            uint64_t first = *log.first_instruction;
            if (s.snapshot.start_instruction && *s.snapshot.start_instruction <= first) {
                first = *s.snapshot.start_instruction;
            }
            uint64_t recorded = last - first;
            char duration[64];
            std::snprintf(duration, sizeof duration, "%.3f s",
                          static_cast<double>(VirtualClock::nanoseconds(recorded)) / 1e9);
            // Under KVM guest time was the host's clock, not the count.
            line("instructions:",
                 std::to_string(first) + " .. " + std::to_string(last) + " (" +
                     std::to_string(recorded) + " recorded" +
                     (m.accelerator == "kvm" ? std::string()
                                             : ", " + std::string(duration) + " of guest time") +
                     ")");
        }
        line("console:", std::to_string(log.console_bytes) + " bytes");
        if (!log.console_tail.empty()) {
            // The last lines, as the guest printed them.
            std::string tail = log.console_tail.size() > 2048
                                   ? log.console_tail.substr(log.console_tail.size() - 2048)
                                   : log.console_tail;
            std::vector<std::string> lines;
            std::string current;
            for (char c : tail) {
                if (c == '\n') {
                    lines.push_back(current);
                    current.clear();
                } else if (c != '\r') {
                    current.push_back(c);
                }
            }
            if (!current.empty()) {
                lines.push_back(current);
            }
            size_t first = lines.size() > 8 ? lines.size() - 8 : 0;
            for (size_t i = first; i < lines.size(); ++i) {
                line(i == first ? "console tail:" : "", printable(lines[i]));
            }
        }
        if (log.end) {
            const bool counted = log.end->final_instruction_count != trace::kUnresolvedCount;
            line("end:",
                 printable(log.end->reason) +
                     (log.end->exit_status
                          ? ", exit status " + std::to_string(*log.end->exit_status)
                          : ", no exit status") +
                     (counted ? ", after " + std::to_string(log.end->final_instruction_count) +
                                    " instructions"
                              : std::string()));
        }
        for (const auto& note : log.progress.notes) {
            line("note:", printable(note));
        }
    }
    for (const auto& note : snap.progress.notes) {
        line("note:", printable(note));
    }
    line("index:", s.has_index ? "present" : "absent");
    std::string status = status_text(s);
    if (s.health() != TraceHealth::Complete) {
        status += ": " + printable(s.problem());
    }
    line("status:", status);
}

void json_progress(JsonWriter& j, const trace::ChunkFileProgress& p) {
    j.key("chunks");
    j.value(p.chunks);
    j.key("stored_bytes");
    j.value(p.stored_bytes);
    j.key("uncompressed_bytes");
    j.value(p.uncompressed_bytes);
    j.key("complete_bytes");
    j.value(p.complete_bytes);
    j.key("file_size");
    j.value(p.file_size);
    j.key("notes");
    j.begin_array();
    for (const auto& n : p.notes) {
        j.value(n);
    }
    j.end_array();
}

void json_counts(JsonWriter& j, const std::map<std::string, uint64_t>& counts) {
    j.begin_object();
    for (const auto& [name, n] : counts) {
        j.key(name);
        j.value(n);
    }
    j.end_object();
}

void json_error(JsonWriter& j, const std::string& error) {
    j.key("error");
    if (error.empty()) {
        j.null();
    } else {
        j.value(error);
    }
}

void print_json(const TraceSummary& s) {
    const auto& m = s.metadata;
    JsonWriter j;
    j.begin_object();
    j.key("path");
    j.value(s.path);
    j.key("status");
    j.value(status_text(s));
    j.key("problem");
    if (s.health() == TraceHealth::Complete) {
        j.null();
    } else {
        j.value(s.problem());
    }
    j.key("format_version");
    j.value(uint64_t{m.format_version});
    j.key("krr_version");
    j.value(m.krr_version);
    j.key("created");
    j.value(m.creation_time);
    j.key("kernel");
    j.begin_object();
    j.key("path");
    j.value(m.kernel.path);
    j.key("version");
    j.value(m.kernel.version);
    j.key("content_hash");
    j.value(m.kernel.content_hash);
    j.end_object();
    j.key("kernel_command_line");
    j.value(m.kernel_command_line);
    j.key("guest_command");
    j.begin_array();
    for (const auto& a : m.guest_command) {
        j.value(a);
    }
    j.end_array();
    j.key("memory_bytes");
    j.value(m.memory_size);
    j.key("vcpus");
    j.value(uint64_t{m.vcpu_count});
    j.key("accelerator");
    j.value(m.accelerator);
    j.key("cpuid_entries");
    j.value(uint64_t{m.cpuid.entries.size()});
    j.key("cpuid_leaves");
    j.value(uint64_t{distinct_leaves(m.cpuid)});

    j.key("snapshot");
    j.begin_object();
    j.key("complete");
    j.value(s.snapshot.complete);
    j.key("pages");
    j.value(s.snapshot.pages);
    j.key("vcpu_states");
    j.value(uint64_t{s.snapshot.vcpus});
    j.key("devices");
    j.begin_array();
    for (const auto& d : s.snapshot.devices) {
        j.value(d);
    }
    j.end_array();
    json_progress(j, s.snapshot.progress);
    json_error(j, s.snapshot.error);
    j.end_object();

    j.key("log");
    j.begin_object();
    j.key("present");
    j.value(s.log.present);
    j.key("complete");
    j.value(s.log.end.has_value());
    j.key("cut_mid_chunk");
    j.value(s.log.progress.cut_mid_chunk);
    j.key("records");
    json_counts(j, s.log.records_by_kind);
    j.key("inputs");
    json_counts(j, s.log.inputs_by_kind);
    j.key("first_instruction");
    if (s.log.first_instruction) {
        j.value(*s.log.first_instruction);
    } else {
        j.null();
    }
    j.key("last_instruction");
    if (s.log.last_instruction) {
        j.value(*s.log.last_instruction);
    } else {
        j.null();
    }
    j.key("console_bytes");
    j.value(s.log.console_bytes);
    j.key("console_tail");
    j.value(s.log.console_tail.size() > 2048
                ? s.log.console_tail.substr(s.log.console_tail.size() - 2048)
                : s.log.console_tail);
    j.key("end");
    if (s.log.end) {
        j.begin_object();
        j.key("reason");
        j.value(s.log.end->reason);
        j.key("exit_status");
        if (s.log.end->exit_status) {
            j.value(uint64_t{*s.log.end->exit_status});
        } else {
            j.null();
        }
        j.key("final_instruction_count");
        j.value(s.log.end->final_instruction_count);
        j.end_object();
    } else {
        j.null();
    }
    json_progress(j, s.log.progress);
    json_error(j, s.log.error);
    j.end_object();

    j.key("index");
    j.value(s.has_index);
    j.end_object();
    std::fputs(j.text().c_str(), stdout);
}

// --inputs: every input with its count (KVM recordings: once resolved),
// vCPU, RIP, kind, address and value.
int print_inputs(const std::string& path) {
    trace::TraceReader trace(path);
    std::vector<trace::LogRecord> records;
    trace::LogReader log = trace.log();
    while (auto record = log.next()) {
        records.push_back(std::move(*record));
    }
    bool counted = true;
    if (trace::unresolved_records(records) > 0) {
        std::optional<trace::ResolvedPositions> positions;
        try {
            positions = trace::read_positions(path);
        } catch (const Error&) {
        }
        if (positions) {
            trace::apply_positions(records, *positions);
        } else {
            counted = false;
        }
    }
    std::printf("%8s %18s %4s %18s  %-13s %18s %18s\n", "input", "count", "vcpu", "rip", "kind",
                "address", "value");
    uint64_t n = 0;
    for (const auto& r : records) {
        const auto* in = std::get_if<trace::InputRecord>(&r);
        if (!in) {
            continue;
        }
        std::string count = counted ? std::to_string(in->instruction_count) : "?";
        std::printf("%8llu %18s %4u %#18llx  %-13s %#18llx %#18llx\n",
                    static_cast<unsigned long long>(n++), count.c_str(), in->vcpu,
                    static_cast<unsigned long long>(in->rip),
                    printable(trace::input_kind_name(in->kind)).c_str(),
                    static_cast<unsigned long long>(in->address),
                    static_cast<unsigned long long>(in->value));
    }
    return 0;
}

int run_info(const ParsedArgs& args) {
    const std::string path = args.positional.at(0);
    if (args.has("inputs")) {
        try {
            return print_inputs(path);
        } catch (const Error& e) {
            throw Error(std::string("info: ") + e.what());
        }
    }
    TraceSummary summary;
    try {
        summary = trace::summarize_trace(path);
    } catch (const Error& e) {
        throw Error(std::string("info: ") + e.what());
    }
    if (args.has("json")) {
        print_json(summary);
    } else {
        print_text(summary);
    }
    std::fflush(stdout);
    switch (summary.health()) {
    case TraceHealth::Complete:
        return 0;
    case TraceHealth::Truncated:
        std::fprintf(stderr, "krr: info: %s: %s\n", printable(path).c_str(),
                     printable(summary.problem()).c_str());
        return kExitTruncated;
    case TraceHealth::Corrupt:
        break;
    }
    std::fprintf(stderr, "krr: info: %s: %s\n", printable(path).c_str(),
                 printable(summary.problem()).c_str());
    return kExitCorrupt;
}

} // namespace

CommandSpec info_command() {
    CommandSpec c;
    c.name = "info";
    c.usage = "TRACE [--json | --inputs]";
    c.summary = "what is in a trace";
    c.description =
        "Reads every file of TRACE, checking every chunk, and prints the recorded machine\n"
        "(kernel, command, memory, vCPUs, CPUID), the snapshot and the input log.\n"
        "Exit status: 0 complete; 3 truncated (the recorder stopped early; everything\n"
        "readable is printed); 1 missing, not a trace, unsupported version or corrupt.";
    c.options = {{"json", 0, "", "print the summary as JSON"},
                 {"inputs", 0, "", "list every input: count, vCPU, RIP, kind, address, value"}};
    c.min_positional = 1;
    c.max_positional = 1;
    c.run = run_info;
    return c;
}

} // namespace krr::cli
