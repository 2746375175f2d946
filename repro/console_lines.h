// A guest console cut into lines, each with the instruction count at which
// its first byte was written. The recorder and the replay both know that
// count (the trace's console records start at a line's first byte; the
// replay knows its position at each byte), so "the crash line was printed at
// instruction N" can be compared between a recording and its replay.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace krr {

struct ConsoleLine {
    std::string text; // without the newline and carriage returns
    uint64_t position = 0;
};

class ConsoleLines {
public:
    // One console byte, written at instruction count `position`.
    void add(uint8_t byte, uint64_t position);
    // Complete lines, then the unfinished last one (if any).
    std::vector<ConsoleLine> lines() const;

private:
    std::vector<ConsoleLine> done_;
    ConsoleLine current_;
    bool in_line_ = false;
};

// The first line for which `matches` holds, with its index in `lines`.
std::optional<size_t> find_line(const std::vector<ConsoleLine>& lines,
                                const std::function<bool(const std::string&)>& matches);

// What a report shows of a kernel crash starting at lines[from]: the crash
// line, KASAN's access line ("Read of size 8 at addr ..."), SLUB's
// "Allocated in"/"Freed in" lines, the first "RIP: 0010:" line
// and the first call trace after it,
// without timestamps and without the unreliable "? " frames.
std::vector<std::string> crash_report(const std::vector<ConsoleLine>& lines, size_t from);

} // namespace krr
