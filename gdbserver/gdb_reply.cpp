#include "gdbserver/gdb_reply.h"

#include "gdbserver/hex_text.h"
#include "gdbserver/packet_codec.h"

namespace krr::gdb {

namespace {

std::string two_hex_digits(uint8_t v) {
    return encode_hex(std::span(&v, 1));
}

std::string format_id_part(int64_t id) {
    return id < 0 ? "-1" : format_hex_number(static_cast<uint64_t>(id));
}

size_t escaped_size(char c) {
    return escape_payload(std::string_view(&c, 1)).size();
}

} // namespace

Reply ok_reply() {
    return Reply{"OK"};
}

Reply error_reply(uint8_t code) {
    return Reply{"E" + two_hex_digits(code)};
}

Reply empty_reply() {
    return Reply{};
}

Reply hex_reply(std::span<const uint8_t> bytes) {
    return Reply{encode_hex(bytes)};
}

Reply hex_text_reply(std::string_view text) {
    return Reply{encode_hex(text)};
}

std::string format_thread_id(const ThreadId& thread, bool multiprocess) {
    if (multiprocess) {
        return "p" + format_id_part(thread.has_pid ? thread.pid : 1) + "." +
               format_id_part(thread.tid);
    }
    return format_id_part(thread.tid);
}

Reply stop_reply(const StopReply& stop) {
    std::string p = "T" + two_hex_digits(stop.signal);
    switch (stop.cause) {
    case StopCause::Signal:
        break;
    case StopCause::WriteWatchpoint:
        p += "watch:" + format_hex_number(stop.address) + ";";
        break;
    case StopCause::ReadWatchpoint:
        p += "rwatch:" + format_hex_number(stop.address) + ";";
        break;
    case StopCause::AccessWatchpoint:
        p += "awatch:" + format_hex_number(stop.address) + ";";
        break;
    case StopCause::ReplayBegin:
        p += "replaylog:begin;";
        break;
    case StopCause::ReplayEnd:
        p += "replaylog:end;";
        break;
    }
    if (stop.thread) {
        p += "thread:" + format_thread_id(*stop.thread, stop.multiprocess) + ";";
    }
    return Reply{p};
}

Reply exited_reply(uint8_t code) {
    return Reply{"W" + two_hex_digits(code)};
}

Reply terminated_reply(uint8_t signal) {
    return Reply{"X" + two_hex_digits(signal)};
}

Reply xfer_reply(std::string_view document, uint64_t offset, uint64_t length) {
    if (offset >= document.size()) {
        return Reply{"l"};
    }
    std::string_view rest = document.substr(static_cast<size_t>(offset));
    // `length` counts data bytes as they travel, escapes included; the
    // marker is gdb's own overhead.
    uint64_t budget = length;
    size_t taken = 0;
    while (taken < rest.size()) {
        const size_t cost = escaped_size(rest[taken]);
        if (cost > budget) {
            break;
        }
        budget -= cost;
        ++taken;
    }
    const bool last = taken == rest.size();
    return Reply{(last ? "l" : "m") + std::string(rest.substr(0, taken))};
}

Reply supported_reply(size_t packet_size, bool multiprocess) {
    std::string p = "PacketSize=" + format_hex_number(packet_size) +
                    ";qXfer:features:read+;ReverseStep+;ReverseContinue+;QStartNoAckMode+;"
                    "vContSupported+";
    if (multiprocess) {
        p += ";multiprocess+";
    }
    return Reply{p};
}

Reply resume_actions_reply() {
    return Reply{"vCont;c;C;s;S"};
}

} // namespace krr::gdb
