#include "repro/console_lines.h"

namespace krr {

namespace {

constexpr size_t kMaxLine = 4096;
// How far past the crash line its RIP and call trace may be.
constexpr size_t kReportWindow = 200;

// "[    3.324583] text" -> "text".
std::string without_timestamp(const std::string& line) {
    if (line.size() > 2 && line[0] == '[') {
        size_t close = line.find("] ");
        if (close != std::string::npos && close < 20) {
            return line.substr(close + 2);
        }
    }
    return line;
}

bool contains(const std::string& s, const char* what) {
    return s.find(what) != std::string::npos;
}

} // namespace

void ConsoleLines::add(uint8_t byte, uint64_t position) {
    if (byte == '\n') {
        done_.push_back(current_);
        current_ = {};
        in_line_ = false;
        return;
    }
    if (!in_line_) {
        current_.position = position;
        in_line_ = true;
    }
    if (byte != '\r' && current_.text.size() < kMaxLine) {
        current_.text.push_back(static_cast<char>(byte));
    }
}

std::vector<ConsoleLine> ConsoleLines::lines() const {
    std::vector<ConsoleLine> all = done_;
    if (in_line_) {
        all.push_back(current_);
    }
    return all;
}

std::optional<size_t> find_line(const std::vector<ConsoleLine>& lines,
                                const std::function<bool(const std::string&)>& matches) {
    for (size_t i = 0; i < lines.size(); ++i) {
        if (matches(lines[i].text)) {
            return i;
        }
    }
    return std::nullopt;
}

std::vector<std::string> crash_report(const std::vector<ConsoleLine>& lines, size_t from) {
    std::vector<std::string> out;
    if (from >= lines.size()) {
        return out;
    }
    out.push_back(without_timestamp(lines[from].text));
    const size_t end = std::min(lines.size(), from + kReportWindow);
    bool rip_seen = false;
    for (size_t i = from + 1; i < end; ++i) {
        std::string text = without_timestamp(lines[i].text);
        // SLUB's reports say where the object was allocated and freed.
        if (text.rfind("Allocated in ", 0) == 0 || text.rfind("Freed in ", 0) == 0) {
            out.push_back(text);
        }
        // KASAN's says what the access was, right after its BUG line.
        if (i == from + 1 &&
            (text.rfind("Read of size ", 0) == 0 || text.rfind("Write of size ", 0) == 0 ||
             text.rfind("Free of addr ", 0) == 0)) {
            out.push_back(text);
        }
        if (!rip_seen && contains(text, "RIP: 0010:")) {
            out.push_back(text);
            rip_seen = true;
        }
        if (contains(text, "Call Trace:")) {
            out.push_back("Call Trace:");
            for (size_t j = i + 1; j < end; ++j) {
                std::string frame = without_timestamp(lines[j].text);
                size_t first = frame.find_first_not_of(' ');
                if (first == std::string::npos) {
                    break;
                }
                frame = frame.substr(first);
                if (frame.rfind("? ", 0) == 0) {
                    continue;
                }
                if (frame.rfind("RIP: ", 0) == 0 || frame.rfind("Code: ", 0) == 0 ||
                    (frame.rfind("R", 0) == 0 && frame.size() > 3 && frame[3] == ':')) {
                    continue; // registers of a frame in the trace
                }
                out.push_back(" " + frame);
                if (frame == "</TASK>" || contains(frame, "---[ end trace") ||
                    contains(frame, "Kernel panic")) {
                    break;
                }
            }
            break;
        }
    }
    return out;
}

} // namespace krr
