// What gdb's requests mean for a recorded run: the replay engine's timeline
// seen as a stopped process with one thread per vCPU. Continuing and
// stepping move through the recording (forward or backward); breakpoints and
// watchpoints are evaluated by the emulator; the ends of the recording are
// reported with the `replaylog` stop reasons; `monitor` commands move to an
// instruction count or an input and describe checkpoints and inputs.
//
// Memory and register writes are applied to the current position only and
// are discarded as soon as the user moves in time; gdb prints a note then.
#pragma once

#include "gdbserver/gdb_connection.h"
#include "guest-model/symbols.h"
#include "replay-engine/replay/replay_session.h"

#include <functional>
#include <optional>
#include <set>
#include <string>

namespace krr::gdb {

class GdbServer final : public RequestHandler {
public:
    // `interrupted` is polled during long runs (gdb's Ctrl-C).
    GdbServer(ReplaySession& session, std::function<bool()> interrupted,
              std::optional<SymbolTable> symbols = std::nullopt);

    Reply handle(const GdbRequest& request) override;

    // A `monitor` command's output (also used by tests).
    std::string monitor(const std::string& command);

private:
    // A step steps `vcpu` (the selected one when absent): the machine runs
    // until that vCPU has made one transition, other vCPUs running in
    // between as recorded.
    Reply resume(Direction direction, bool single_step, std::optional<unsigned> vcpu = {});
    TimelineStop step_vcpu(Direction direction, unsigned vcpu);
    Reply stop_reply_for(const TimelineStop& stop);
    Reply current_stop_reply();
    bool is_our_thread(const ThreadId& thread) const;
    // The vCPU a thread id names (thread N is vCPU N-1; "any"/"all": the
    // executing one); nullopt for a thread that does not exist.
    std::optional<unsigned> vcpu_of(const ThreadId& thread) const;
    ThreadId thread_of(unsigned vcpu) const;
    std::string describe_position() const;
    std::string describe_input(uint64_t index) const;
    std::string moved_note();
    void update_watchpoints();

    ReplaySession& session_;
    std::function<bool()> interrupted_;
    std::optional<SymbolTable> symbols_;
    bool multiprocess_ = false;
    std::set<uint64_t> breakpoints_;
    // (address, length, kind) as gdb inserted them
    std::set<std::tuple<uint64_t, uint64_t, uint8_t>> watchpoints_;
    std::optional<TimelineStop> last_stop_;
    std::optional<TimelinePosition> modified_at_;
    unsigned selected_ = 0; // Hg: whose registers g/G/p/P read and write
};

} // namespace krr::gdb
