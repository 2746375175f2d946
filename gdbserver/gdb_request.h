// What gdb asked for, as a typed value. Parsing only reads the payload's
// syntax; what a request means for the replay is the server's business.
// parse_request never throws: a payload it cannot read becomes
// MalformedRequest (answered with an `E` reply), one it does not know becomes
// UnknownRequest (answered with an empty packet, gdb's "not supported").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace krr::gdb {

// gdb's thread-id: `-1` (all), `0` (any), a hex id, or `pPID.TID` in
// multiprocess mode where either part may be -1 or 0 and `pPID` alone means
// every thread of PID.
struct ThreadId {
    static constexpr int64_t kAll = -1;
    static constexpr int64_t kAny = 0;

    bool has_pid = false;
    int64_t pid = 0;
    int64_t tid = 0;

    bool operator==(const ThreadId&) const = default;
};

// One entry of gdb's qSupported list: `name+`, `name-`, `name?` (value is
// "+", "-" or "?") or `name=value`.
struct GdbFeature {
    std::string name;
    std::string value;
    bool operator==(const GdbFeature&) const = default;
};

struct QuerySupported { // qSupported[:features]
    std::vector<GdbFeature> features;
    bool operator==(const QuerySupported&) const = default;
};
struct ReadFeatureDocument { // qXfer:features:read:ANNEX:OFFSET,LENGTH
    std::string annex;
    uint64_t offset = 0;
    uint64_t length = 0;
    bool operator==(const ReadFeatureDocument&) const = default;
};
struct QueryAttached { // qAttached[:pid]
    std::optional<int64_t> pid;
    bool operator==(const QueryAttached&) const = default;
};
struct QueryCurrentThread { // qC
    bool operator==(const QueryCurrentThread&) const = default;
};
struct QueryThreadListStart { // qfThreadInfo
    bool operator==(const QueryThreadListStart&) const = default;
};
struct QueryThreadListNext { // qsThreadInfo
    bool operator==(const QueryThreadListNext&) const = default;
};
struct QueryOffsets { // qOffsets
    bool operator==(const QueryOffsets&) const = default;
};
struct QuerySymbol { // qSymbol::  /  qSymbol:VALUE:NAME  /  qSymbol::NAME
    std::optional<uint64_t> value;
    std::string name; // decoded from hex; empty in gdb's first offer
    bool operator==(const QuerySymbol&) const = default;
};
struct QueryStopReason { // ?
    bool operator==(const QueryStopReason&) const = default;
};
struct ReadRegisters { // g
    bool operator==(const ReadRegisters&) const = default;
};
struct WriteRegisters { // G XX...
    std::vector<uint8_t> image;
    bool operator==(const WriteRegisters&) const = default;
};
struct ReadRegister { // p n
    uint32_t number = 0;
    bool operator==(const ReadRegister&) const = default;
};
struct WriteRegister { // P n=XX...
    uint32_t number = 0;
    std::vector<uint8_t> value;
    bool operator==(const WriteRegister&) const = default;
};
struct ReadMemory { // m addr,length
    uint64_t address = 0;
    uint64_t length = 0;
    bool operator==(const ReadMemory&) const = default;
};
// M addr,length:XX... and X addr,length:binary mean the same thing.
struct WriteMemory {
    uint64_t address = 0;
    std::vector<uint8_t> data;
    bool operator==(const WriteMemory&) const = default;
};

enum class BreakpointType : uint8_t {
    Software = 0,
    Hardware = 1,
    WriteWatchpoint = 2,
    ReadWatchpoint = 3,
    AccessWatchpoint = 4,
};
struct InsertBreakpoint { // Ztype,addr,kind
    BreakpointType type = BreakpointType::Software;
    uint64_t address = 0;
    uint64_t kind = 0; // bytes watched; for breakpoints gdb's breakpoint kind
    bool operator==(const InsertBreakpoint&) const = default;
};
struct RemoveBreakpoint { // ztype,addr,kind
    BreakpointType type = BreakpointType::Software;
    uint64_t address = 0;
    uint64_t kind = 0;
    bool operator==(const RemoveBreakpoint&) const = default;
};

struct QueryResumeActions { // vCont?
    bool operator==(const QueryResumeActions&) const = default;
};
struct ResumeAction {
    enum class Kind : uint8_t { Continue, Step, Stop };
    Kind kind = Kind::Continue;
    std::optional<uint8_t> signal;  // C sig / S sig
    std::optional<ThreadId> thread; // absent: every thread no earlier action named
    bool operator==(const ResumeAction&) const = default;
};
struct Resume { // vCont;action[:thread]...
    std::vector<ResumeAction> actions;
    bool operator==(const Resume&) const = default;
};
struct Continue { // c [addr]
    std::optional<uint64_t> address;
    bool operator==(const Continue&) const = default;
};
struct Step { // s [addr]
    std::optional<uint64_t> address;
    bool operator==(const Step&) const = default;
};
struct ReverseContinue { // bc
    bool operator==(const ReverseContinue&) const = default;
};
struct ReverseStep { // bs
    bool operator==(const ReverseStep&) const = default;
};
struct SetThread { // Hg thread / Hc thread
    enum class Operation : uint8_t { General, Continue };
    Operation operation = Operation::General;
    ThreadId thread;
    bool operator==(const SetThread&) const = default;
};
struct QueryThreadAlive { // T thread
    ThreadId thread;
    bool operator==(const QueryThreadAlive&) const = default;
};
struct QueryThreadExtraInfo { // qThreadExtraInfo,thread
    ThreadId thread;
    bool operator==(const QueryThreadExtraInfo&) const = default;
};
struct MustReplyEmpty { // vMustReplyEmpty
    bool operator==(const MustReplyEmpty&) const = default;
};
struct StartNoAckMode { // QStartNoAckMode
    bool operator==(const StartNoAckMode&) const = default;
};
// `k` wants no reply (gdb drops the connection); `vKill;pid` wants OK.
struct Kill { // k, vKill;pid
    std::optional<int64_t> pid;
    bool operator==(const Kill&) const = default;
};
struct Detach { // D, D;pid
    std::optional<int64_t> pid;
    bool operator==(const Detach&) const = default;
};
struct MonitorCommand { // qRcmd,HEX
    std::string command;
    bool operator==(const MonitorCommand&) const = default;
};
// The 0x03 byte gdb sends outside packets to stop a running target.
struct Interrupt {
    bool operator==(const Interrupt&) const = default;
};
struct UnknownRequest {
    std::string payload;
    bool operator==(const UnknownRequest&) const = default;
};
struct MalformedRequest {
    std::string payload;
    std::string why;
    bool operator==(const MalformedRequest&) const = default;
};

using GdbRequest =
    std::variant<QuerySupported, ReadFeatureDocument, QueryAttached, QueryCurrentThread,
                 QueryThreadListStart, QueryThreadListNext, QueryOffsets, QuerySymbol,
                 QueryStopReason, ReadRegisters, WriteRegisters, ReadRegister, WriteRegister,
                 ReadMemory, WriteMemory, InsertBreakpoint, RemoveBreakpoint, QueryResumeActions,
                 Resume, Continue, Step, ReverseContinue, ReverseStep, SetThread, QueryThreadAlive,
                 QueryThreadExtraInfo, MustReplyEmpty, StartNoAckMode, Kill, Detach, MonitorCommand,
                 Interrupt, UnknownRequest, MalformedRequest>;

// Reads one decoded packet payload. Never throws.
GdbRequest parse_request(std::string_view payload);

// Reads a thread-id in any of gdb's forms; throws krr::Error if it is not one.
ThreadId parse_thread_id(std::string_view text);

} // namespace krr::gdb
