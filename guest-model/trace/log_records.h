// The records of the input log, and their encoding inside log chunks. A log
// chunk holds records in the order they happened, each framed as kind, length
// and body, so a reader steps over kinds it does not know and over fields a
// later version appends to a body it does know.
#pragma once

#include "guest-model/byte_codec.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace krr::trace {

// The record-and-replay work refines these; the numbers are on disk.
enum class InputKind : uint8_t {
    PortRead = 1,
    MmioRead = 2,
    Interrupt = 3,
    Rdtsc = 4,
    Dma = 5,
    ConsoleInput = 6,
    Nmi = 7,
    // Virtual time a halted vCPU skipped to reach its next timer event
    // (value: instructions' worth of time). Replay has no timers to ask.
    ClockSkip = 8,
    // Several vCPUs (docs/smp.md): from here on vCPU `vcpu` executes.
    VcpuSwitch = 9,
    // INIT and STARTUP (vector in `address`) reached vCPU `vcpu`.
    VcpuInit = 10,
    VcpuStartup = 11,
};
std::string input_kind_name(uint8_t kind); // "port-read", ... or "input N"
// Inputs an instruction asks for (port and MMIO reads, TSC reads in a KVM
// recording), as opposed to those that arrive between instructions.
bool is_synchronous_input(uint8_t kind);

// The instruction count of a record made under KVM, which has no
// instruction counter: the resolve pass (replay-engine/replay/
// position_resolver.h) finds it and keeps it in the trace's positions file.
inline constexpr uint64_t kUnresolvedCount = ~0ULL;

// Where a KVM recording was when an asynchronous input arrived (or when it
// ended), in terms the emulator can find again: RIP (the record's), the
// general registers and RFLAGS, and a hash of the exact contents of the
// guest-physical pages written since the previous position (pages_hash),
// which tells apart the iterations of a loop whose registers repeat while
// memory changes. The count is the first point after the previous input
// where all of them match. RFLAGS.RF does not take part: a KVM may drop it
// on its way back to user mode (this host's PVM does, after an IRET that
// loads it), so the interrupt or NMI record carries it in `value` and
// replay gives the vCPU that RF before the delivery, whose frame holds it.
struct StatePosition {
    std::array<uint64_t, 16> gpr{}; // RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15
    uint64_t rflags = 0;
    uint64_t memory_hash = 0;
    std::vector<uint64_t> pages; // page numbers, ascending

    bool operator==(const StatePosition&) const = default;
};

// A nondeterministic value the guest received. `instruction_count` is the
// machine's count: the instructions retired by all vCPUs together (with one
// vCPU, its own count), which orders the log; kUnresolvedCount in a KVM
// recording until resolved, where asynchronous inputs carry `position`.
struct InputRecord {
    uint8_t kind = 0; // InputKind
    uint32_t vcpu = 0;
    uint64_t instruction_count = 0;
    uint64_t rip = 0;
    uint64_t address = 0; // port, guest-physical address or vector
    uint8_t size = 0;     // bytes of `value` that matter
    uint64_t value = 0;
    std::optional<StatePosition> position; // appended to the body when present

    bool operator==(const InputRecord&) const = default;
};

// Bytes the guest wrote to its console.
struct ConsoleRecord {
    uint32_t vcpu = 0;
    uint64_t instruction_count = 0;
    std::vector<uint8_t> bytes;

    bool operator==(const ConsoleRecord&) const = default;
};

// What verification compares: the machine's state at a position.
struct StateHashRecord {
    uint32_t vcpu = 0;
    uint64_t instruction_count = 0;
    uint64_t register_hash = 0;
    uint64_t memory_hash = 0;
    // Detail for a divergence report, appended to the record's body (absent
    // in traces that did not store it): the vCPU state (encode_vcpu_state)
    // and one hash per 4 KiB page of guest memory.
    std::vector<uint8_t> vcpu_state;
    std::vector<uint64_t> page_hashes;
    // With several vCPUs, after those: the other vCPUs' states
    // (encode_vcpu_state), in vCPU order, so that a report can say which
    // vCPU differs and how.
    std::vector<std::vector<uint8_t>> other_vcpu_states;

    bool operator==(const StateHashRecord&) const = default;
};

// The last thing a completed recording writes; its own chunk type, so its
// presence alone says the log is whole.
struct RecordEnd {
    std::string reason;                  // e.g. "guest exited", "crash"
    std::optional<uint32_t> exit_status; // of CMD, when it reported one
    uint64_t final_instruction_count = 0;
    // A KVM recording's end (final_instruction_count kUnresolvedCount).
    std::optional<StatePosition> position;

    bool operator==(const RecordEnd&) const = default;
};

using LogRecord = std::variant<InputRecord, ConsoleRecord, StateHashRecord, RecordEnd>;

enum class RecordKind : uint8_t {
    Input = 1,
    Console = 2,
    StateHash = 3,
};

// Appends a framed record (not RecordEnd, which has its own chunk).
void encode_log_record(ByteWriter& w, const LogRecord& record);
// Decodes a log chunk payload. Records of unknown kinds are skipped and
// counted in `skipped` by kind. Throws krr::Error on malformed records.
std::vector<LogRecord> decode_log_chunk(std::span<const uint8_t> payload,
                                        std::map<uint8_t, uint64_t>& skipped);

std::vector<uint8_t> encode_record_end(const RecordEnd& end);
RecordEnd decode_record_end(std::span<const uint8_t> payload);

// "input", "console", "state-hash" or "record-end".
std::string record_kind_name(const LogRecord& record);

} // namespace krr::trace
