#include "gdbserver/gdb_request.h"

#include "gdbserver/hex_text.h"
#include "guest-model/error.h"

#include <limits>

namespace krr::gdb {

namespace {

[[noreturn]] void malformed(const std::string& why) {
    throw Error("gdb request", why);
}

// Splits `text` at the first `separator`; throws if there is none.
std::pair<std::string_view, std::string_view> split_required(std::string_view text, char separator,
                                                             std::string_view what) {
    const size_t at = text.find(separator);
    if (at == std::string_view::npos) {
        malformed(std::string(what) + " lacks '" + separator + "'");
    }
    return {text.substr(0, at), text.substr(at + 1)};
}

bool consume_prefix(std::string_view& text, std::string_view prefix) {
    if (!text.starts_with(prefix)) {
        return false;
    }
    text.remove_prefix(prefix.size());
    return true;
}

void expect_empty(std::string_view rest, std::string_view what) {
    if (!rest.empty()) {
        malformed(std::string(what) + " has trailing characters");
    }
}

// A pid or tid: -1, or a hex number that fits in a positive int64.
int64_t parse_id_part(std::string_view text) {
    if (text == "-1") {
        return ThreadId::kAll;
    }
    const uint64_t v = parse_hex_number(text, "thread id");
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        malformed("thread id does not fit in 63 bits");
    }
    return static_cast<int64_t>(v);
}

int64_t parse_pid(std::string_view text) {
    const int64_t pid = parse_id_part(text);
    if (pid <= 0) {
        malformed("process id must be a positive number");
    }
    return pid;
}

uint32_t parse_register_number(std::string_view text) {
    const uint64_t v = parse_hex_number(text, "register number");
    if (v > std::numeric_limits<uint32_t>::max()) {
        malformed("register number does not fit in 32 bits");
    }
    return static_cast<uint32_t>(v);
}

std::pair<uint64_t, uint64_t> parse_address_length(std::string_view text) {
    auto [address, length] = split_required(text, ',', "address and length");
    return {parse_hex_number(address, "address"), parse_hex_number(length, "length")};
}

std::optional<uint64_t> parse_optional_address(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    return parse_hex_number(text, "resume address");
}

template <typename Breakpoint>
Breakpoint parse_breakpoint(std::string_view body) {
    auto [type_text, rest] = split_required(body, ',', "breakpoint");
    if (type_text.size() != 1 || type_text[0] < '0' || type_text[0] > '4') {
        malformed("breakpoint type must be 0 to 4");
    }
    auto [address, kind] = split_required(rest, ',', "breakpoint");
    // Conditions and commands (";X..."/";cmds") come only when announced,
    // and krr does not announce them.
    if (kind.find(';') != std::string_view::npos) {
        malformed("breakpoint conditions are not supported");
    }
    Breakpoint b;
    b.type = static_cast<BreakpointType>(type_text[0] - '0');
    b.address = parse_hex_number(address, "breakpoint address");
    b.kind = parse_hex_number(kind, "breakpoint kind");
    return b;
}

uint8_t parse_signal(std::string_view text) {
    if (text.size() != 2) {
        malformed("signal must be two hex digits");
    }
    return static_cast<uint8_t>(parse_hex_number(text, "signal"));
}

Resume parse_resume(std::string_view actions) {
    Resume resume;
    if (actions.empty()) {
        malformed("vCont without actions");
    }
    while (!actions.empty()) {
        if (!consume_prefix(actions, ";")) {
            malformed("vCont actions must be separated by ';'");
        }
        const size_t end = actions.find(';');
        std::string_view action = actions.substr(0, end);
        actions = end == std::string_view::npos ? std::string_view() : actions.substr(end);

        std::string_view thread;
        if (const size_t colon = action.find(':'); colon != std::string_view::npos) {
            thread = action.substr(colon + 1);
            action = action.substr(0, colon);
            if (thread.empty()) {
                malformed("vCont action has an empty thread id");
            }
        }
        ResumeAction a;
        if (action == "c") {
            a.kind = ResumeAction::Kind::Continue;
        } else if (action == "s") {
            a.kind = ResumeAction::Kind::Step;
        } else if (action == "t") {
            a.kind = ResumeAction::Kind::Stop;
        } else if (action.starts_with('C')) {
            a.kind = ResumeAction::Kind::Continue;
            a.signal = parse_signal(action.substr(1));
        } else if (action.starts_with('S')) {
            a.kind = ResumeAction::Kind::Step;
            a.signal = parse_signal(action.substr(1));
        } else {
            malformed("unsupported vCont action '" + std::string(action.substr(0, 16)) + "'");
        }
        if (!thread.empty()) {
            a.thread = parse_thread_id(thread);
        }
        resume.actions.push_back(a);
    }
    return resume;
}

QuerySupported parse_supported(std::string_view list) {
    QuerySupported q;
    while (!list.empty()) {
        const size_t end = list.find(';');
        std::string_view item = list.substr(0, end);
        list = end == std::string_view::npos ? std::string_view() : list.substr(end + 1);
        if (item.empty()) {
            malformed("qSupported has an empty feature");
        }
        GdbFeature f;
        if (const size_t eq = item.find('='); eq != std::string_view::npos) {
            f.name = item.substr(0, eq);
            f.value = item.substr(eq + 1);
        } else if (item.back() == '+' || item.back() == '-' || item.back() == '?') {
            f.name = item.substr(0, item.size() - 1);
            f.value = item.substr(item.size() - 1);
        } else {
            malformed("qSupported feature '" + std::string(item.substr(0, 32)) +
                      "' has no +, -, ? or value");
        }
        if (f.name.empty()) {
            malformed("qSupported has a feature without a name");
        }
        q.features.push_back(std::move(f));
    }
    return q;
}

std::string decode_hex_text(std::string_view hex) {
    const std::vector<uint8_t> bytes = decode_hex(hex);
    return std::string(bytes.begin(), bytes.end());
}

GdbRequest parse_query(std::string_view payload) {
    std::string_view body = payload;
    if (body == "qSupported") {
        return QuerySupported{};
    }
    if (consume_prefix(body, "qSupported:")) {
        return parse_supported(body);
    }
    if (consume_prefix(body, "qXfer:features:read:")) {
        auto [annex, range] = split_required(body, ':', "qXfer:features:read");
        if (annex.empty()) {
            malformed("qXfer:features:read names no document");
        }
        auto [offset, length] = parse_address_length(range);
        return ReadFeatureDocument{std::string(annex), offset, length};
    }
    if (body == "qAttached") {
        return QueryAttached{};
    }
    if (consume_prefix(body, "qAttached:")) {
        return QueryAttached{parse_pid(body)};
    }
    if (body == "qC") {
        return QueryCurrentThread{};
    }
    if (body == "qfThreadInfo") {
        return QueryThreadListStart{};
    }
    if (body == "qsThreadInfo") {
        return QueryThreadListNext{};
    }
    if (body == "qOffsets") {
        return QueryOffsets{};
    }
    if (consume_prefix(body, "qSymbol:")) {
        auto [value, name] = split_required(body, ':', "qSymbol");
        QuerySymbol q;
        if (!value.empty()) {
            q.value = parse_hex_number(value, "symbol value");
        }
        q.name = decode_hex_text(name);
        if (q.value && q.name.empty()) {
            malformed("qSymbol has a value but no name");
        }
        return q;
    }
    if (consume_prefix(body, "qThreadExtraInfo,")) {
        return QueryThreadExtraInfo{parse_thread_id(body)};
    }
    if (consume_prefix(body, "qRcmd,")) {
        return MonitorCommand{decode_hex_text(body)};
    }
    return UnknownRequest{std::string(payload)};
}

GdbRequest parse_v_packet(std::string_view payload) {
    std::string_view body = payload;
    if (body == "vCont?") {
        return QueryResumeActions{};
    }
    if (consume_prefix(body, "vCont")) {
        return parse_resume(body);
    }
    if (body == "vMustReplyEmpty") {
        return MustReplyEmpty{};
    }
    if (consume_prefix(body, "vKill;")) {
        return Kill{parse_pid(body)};
    }
    return UnknownRequest{std::string(payload)};
}

GdbRequest parse_checked(std::string_view payload) {
    if (payload.empty()) {
        return UnknownRequest{};
    }
    std::string_view body = payload.substr(1);
    switch (payload[0]) {
    case '?':
        expect_empty(body, "'?'");
        return QueryStopReason{};
    case 'g':
        expect_empty(body, "'g'");
        return ReadRegisters{};
    case 'G':
        return WriteRegisters{decode_hex(body)};
    case 'p':
        return ReadRegister{parse_register_number(body)};
    case 'P': {
        auto [number, value] = split_required(body, '=', "'P'");
        return WriteRegister{parse_register_number(number), decode_hex(value)};
    }
    case 'm': {
        auto [address, length] = parse_address_length(body);
        return ReadMemory{address, length};
    }
    case 'M':
    case 'X': {
        auto [range, data] = split_required(body, ':', payload[0] == 'M' ? "'M'" : "'X'");
        auto [address, length] = parse_address_length(range);
        WriteMemory w{address, {}};
        if (payload[0] == 'M') {
            w.data = decode_hex(data);
        } else {
            w.data.assign(data.begin(), data.end());
        }
        if (w.data.size() != length) {
            malformed("memory write length " + std::to_string(length) + " does not match its " +
                      std::to_string(w.data.size()) + " data bytes");
        }
        return w;
    }
    case 'Z':
        return parse_breakpoint<InsertBreakpoint>(body);
    case 'z':
        return parse_breakpoint<RemoveBreakpoint>(body);
    case 'c':
        return Continue{parse_optional_address(body)};
    case 's':
        return Step{parse_optional_address(body)};
    case 'b':
        if (body == "c") {
            return ReverseContinue{};
        }
        if (body == "s") {
            return ReverseStep{};
        }
        return UnknownRequest{std::string(payload)};
    case 'H': {
        if (body.empty()) {
            malformed("'H' without an operation");
        }
        SetThread h;
        if (body[0] == 'g') {
            h.operation = SetThread::Operation::General;
        } else if (body[0] == 'c') {
            h.operation = SetThread::Operation::Continue;
        } else {
            return UnknownRequest{std::string(payload)};
        }
        h.thread = parse_thread_id(body.substr(1));
        return h;
    }
    case 'T':
        return QueryThreadAlive{parse_thread_id(body)};
    case 'k':
        expect_empty(body, "'k'");
        return Kill{};
    case 'D':
        if (body.empty()) {
            return Detach{};
        }
        if (body[0] != ';') {
            malformed("'D' must be followed by nothing or ';pid'");
        }
        return Detach{parse_pid(body.substr(1))};
    case 'q':
        return parse_query(payload);
    case 'Q':
        if (payload == "QStartNoAckMode") {
            return StartNoAckMode{};
        }
        return UnknownRequest{std::string(payload)};
    case 'v':
        return parse_v_packet(payload);
    default:
        return UnknownRequest{std::string(payload)};
    }
}

} // namespace

ThreadId parse_thread_id(std::string_view text) {
    ThreadId id;
    if (consume_prefix(text, "p")) {
        id.has_pid = true;
        const size_t dot = text.find('.');
        id.pid = parse_id_part(text.substr(0, dot));
        // `pPID` alone names every thread of the process.
        id.tid =
            dot == std::string_view::npos ? ThreadId::kAll : parse_id_part(text.substr(dot + 1));
    } else {
        id.tid = parse_id_part(text);
    }
    return id;
}

GdbRequest parse_request(std::string_view payload) {
    try {
        return parse_checked(payload);
    } catch (const Error& e) {
        return MalformedRequest{std::string(payload.substr(0, 64)), e.what()};
    }
}

} // namespace krr::gdb
