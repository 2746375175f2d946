#include "guest-model/trace/trace_summary.h"

#include "guest-model/error.h"
#include "guest-model/trace/trace_files.h"
#include "guest-model/trace/trace_positions.h"

#include <algorithm>

namespace krr::trace {

namespace {

void note_instruction(LogSummary& s, uint64_t count) {
    s.first_instruction = std::min(s.first_instruction.value_or(count), count);
    s.last_instruction = std::max(s.last_instruction.value_or(count), count);
}

std::string cut_text(const char* file, const ChunkFileProgress& p) {
    std::string text = std::string(file) + " truncated after " + std::to_string(p.chunks) +
                       " complete chunks at byte " + std::to_string(p.complete_bytes);
    if (p.cut_mid_chunk) {
        text += " of " + std::to_string(p.file_size);
    } else {
        text += std::string(" (no ") + (std::string(file) == "log" ? "record" : "snapshot") +
                "-end chunk)";
    }
    return text;
}

void summarize_snapshot(const TraceReader& trace, SnapshotSummary& s) {
    std::optional<SnapshotReader> reader;
    try {
        reader.emplace(trace.snapshot());
        while (auto item = reader->next()) {
            if (auto* run = std::get_if<MemoryRun>(&*item)) {
                s.pages += run->page_count();
            } else if (auto* vcpu = std::get_if<VcpuState>(&*item)) {
                ++s.vcpus;
                if (vcpu->id == 0) {
                    s.start_instruction = vcpu->instructions_retired;
                }
            } else {
                s.devices.push_back(std::get<DeviceState>(*item).name);
            }
        }
        s.complete = reader->end() == FileEnd::Complete;
    } catch (const Error& e) {
        s.error = e.what();
    }
    if (reader) {
        s.progress = reader->progress();
    }
}

void summarize_log(const TraceReader& trace, LogSummary& s) {
    s.present = trace.has_log();
    if (!s.present) {
        return;
    }
    std::optional<LogReader> reader;
    std::optional<ResolvedPositions> positions;
    try {
        positions = read_positions(trace.path());
    } catch (const Error& e) {
        s.positions_problem = e.what();
    }
    size_t next_position = 0;
    try {
        reader.emplace(trace.log());
        while (auto record = reader->next()) {
            // A KVM recording's record gets its count from the positions
            // file; without one it has none to note.
            bool has_count = true;
            if (is_unresolved(*record)) {
                ++s.unresolved_records;
                if (positions && next_position < positions->counts.size()) {
                    std::vector<LogRecord> one{*record};
                    apply_positions(one,
                                    {positions->log_key, {positions->counts[next_position++]}});
                    record = std::move(one[0]);
                } else {
                    has_count = false;
                }
            }
            auto note = [&](uint64_t count) {
                if (has_count) {
                    note_instruction(s, count);
                }
            };
            ++s.records_by_kind[record_kind_name(*record)];
            if (auto* in = std::get_if<InputRecord>(&*record)) {
                ++s.inputs_by_kind[input_kind_name(in->kind)];
                note(in->instruction_count);
            } else if (auto* c = std::get_if<ConsoleRecord>(&*record)) {
                s.console_bytes += c->bytes.size();
                s.console_tail.append(c->bytes.begin(), c->bytes.end());
                if (s.console_tail.size() > 4096) {
                    s.console_tail.erase(0, s.console_tail.size() - 2048);
                }
                note(c->instruction_count);
            } else if (auto* h = std::get_if<StateHashRecord>(&*record)) {
                note(h->instruction_count);
            } else {
                s.end = std::get<RecordEnd>(*record);
                note(s.end->final_instruction_count);
            }
        }
        // The record end is not a record of the run; keep the counts to the run.
        s.records_by_kind.erase("record-end");
        s.positions_resolved = positions && next_position == positions->counts.size() &&
                               s.unresolved_records == positions->counts.size();
    } catch (const Error& e) {
        s.error = e.what();
    }
    if (reader) {
        s.progress = reader->progress();
    }
}

} // namespace

TraceHealth TraceSummary::health() const {
    if (!snapshot.error.empty() || !log.error.empty()) {
        return TraceHealth::Corrupt;
    }
    if (!snapshot.complete || !log.present || !log.end) {
        return TraceHealth::Truncated;
    }
    return TraceHealth::Complete;
}

std::string TraceSummary::problem() const {
    if (!snapshot.error.empty()) {
        return snapshot.error;
    }
    if (!log.error.empty()) {
        return log.error;
    }
    if (!snapshot.complete) {
        return cut_text(kSnapshotFileName, snapshot.progress);
    }
    if (!log.present) {
        return "the log is missing (the recording stopped before it began)";
    }
    if (!log.end) {
        return cut_text(kLogFileName, log.progress);
    }
    return "";
}

TraceSummary summarize_trace(const std::string& path) {
    TraceReader trace(path);
    TraceSummary s;
    s.path = path;
    s.metadata = trace.metadata();
    s.has_index = trace.has_index();
    summarize_snapshot(trace, s.snapshot);
    summarize_log(trace, s.log);
    return s;
}

} // namespace krr::trace
