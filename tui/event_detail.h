// The detail pane's content for one event: the replay is moved to the
// event's position and the machine read there — registers, the code around
// RIP disassembled with symbol names, the source line when the kernel has
// DWARF, and the console as far as the guest had written it.
#pragma once

#include "activity/activity_event.h"
#include "guest-model/machine_state.h"
#include "guest-model/symbols.h"
#include "replay-engine/replay/replay_session.h"
#include "tui/source_lines.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace krr::tui {

struct EventDetail {
    std::string error; // non-empty when the replay could not go there
    VcpuState vcpu;
    std::string where;                    // "symbol+0x12 (0xffffffff81000012)"
    std::string source;                   // "kernel/sys.c:1000", or empty
    std::vector<std::string> disassembly; // "=>" marks the line at RIP
    std::string console;                  // everything the guest had written so far
};

class DetailSource {
public:
    // `symbols` may be empty (addresses are then printed bare); `vmlinux`
    // may be missing (no source lines). Throws krr::Error when the trace
    // cannot be replayed.
    DetailSource(const std::string& trace_path, SymbolTable symbols, const std::string& vmlinux);
    ~DetailSource();

    EventDetail at(const activity::ActivityEvent& event);
    const SymbolTable& symbols() const { return symbols_; }

private:
    std::vector<std::string> disassemble(uint64_t rip);
    std::vector<std::string> disassemble_from(uint64_t begin, uint64_t rip);

    ReplaySession session_;
    SymbolTable symbols_;
    std::unique_ptr<SourceLines> source_lines_;
    size_t capstone_ = 0; // csh
};

} // namespace krr::tui
