// The replies a server sends back, formatted. A Reply holds the payload
// unescaped; framing (escapes, checksum) is the connection's job.
#pragma once

#include "gdbserver/gdb_request.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace krr::gdb {

struct Reply {
    Reply() = default;
    Reply(std::string text) : payload(std::move(text)) {}

    std::string payload;
    // gdb waits for no answer to some requests (`k`); nothing is sent then.
    bool silent = false;
    // The session ends once this reply is out (after `D` or `k`).
    bool end_session = false;
    // Text for gdb to print before a stop reply (`O` packets, which gdb
    // accepts only while it waits for the target to stop).
    std::vector<std::string> console_output;

    bool operator==(const Reply&) const = default;
};

Reply ok_reply();
// `Enn`: gdb shows only that the request failed; the number is for logs.
Reply error_reply(uint8_t code);
// The empty packet: "this request is not supported".
Reply empty_reply();
// Register or memory contents, two hex digits per byte in memory order.
Reply hex_reply(std::span<const uint8_t> bytes);

// Text for gdb to print, hex-encoded: the answer to qRcmd (monitor
// commands) and to qThreadExtraInfo.
Reply hex_text_reply(std::string_view text);

// `pPID.TID` when gdb and the server agreed on multiprocess, else `TID`.
std::string format_thread_id(const ThreadId& thread, bool multiprocess);

// Why the target stopped, beyond the signal.
enum class StopCause : uint8_t {
    Signal,           // only the signal (a step finished, an interrupt, a breakpoint)
    WriteWatchpoint,  // `watch:ADDR;`
    ReadWatchpoint,   // `rwatch:ADDR;`
    AccessWatchpoint, // `awatch:ADDR;`
    ReplayBegin,      // `replaylog:begin;`: the start of the recording was reached backwards
    ReplayEnd,        // `replaylog:end;`: its end was reached forwards
};

struct StopReply {
    uint8_t signal = 5; // SIGTRAP
    StopCause cause = StopCause::Signal;
    uint64_t address = 0; // the watched address, for the watchpoint causes
    std::optional<ThreadId> thread;
    bool multiprocess = true;
};

// `TssCAUSE;thread:ID;`.
Reply stop_reply(const StopReply& stop);
// `Wcc`: the program exited with `code`.
Reply exited_reply(uint8_t code);
// `Xss`: the program was ended by `signal`.
Reply terminated_reply(uint8_t signal);

// One piece of a qXfer object: `m` and data when more follows, `l` and data
// for the last piece. At most `length` bytes go on the wire after escaping,
// so the reply fits the buffer gdb sized from its request.
Reply xfer_reply(std::string_view document, uint64_t offset, uint64_t length);

// What the server offers, in answer to qSupported.
Reply supported_reply(size_t packet_size, bool multiprocess);

// gdb uses vCont only when c, C, s and S are all offered.
Reply resume_actions_reply();

} // namespace krr::gdb
