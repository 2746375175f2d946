#include "guest-model/trace/log_records.h"

#include "guest-model/error.h"
#include "guest-model/trace/chunk_format.h"
#include "guest-model/trace/trace_metadata.h"

namespace krr::trace {

namespace {

uint32_t get_u32_varint(ByteReader& r, const char* what) {
    uint64_t v = r.varint();
    if (v > UINT32_MAX) {
        r.fail(std::string(what) + " " + std::to_string(v) + " is out of range");
    }
    return static_cast<uint32_t>(v);
}

// Page numbers stay below this: pages of the largest guest memory.
constexpr uint64_t kMaxPageNumber = kMaxMemorySize / 4096;

void encode_position(ByteWriter& w, const StatePosition& p) {
    for (uint64_t r : p.gpr) {
        w.u64(r);
    }
    w.u64(p.rflags);
    w.u64(p.memory_hash);
    w.varint(p.pages.size());
    uint64_t previous = 0;
    for (uint64_t page : p.pages) {
        w.varint(page - previous); // ascending: small deltas
        previous = page;
    }
}

StatePosition decode_position(ByteReader& r) {
    StatePosition p;
    for (uint64_t& reg : p.gpr) {
        reg = r.u64();
    }
    p.rflags = r.u64();
    p.memory_hash = r.u64();
    uint64_t pages = r.count(1);
    p.pages.reserve(static_cast<size_t>(pages));
    uint64_t page = 0;
    for (uint64_t i = 0; i < pages; ++i) {
        uint64_t delta = r.varint();
        if ((i > 0 && delta == 0) || delta >= kMaxPageNumber - page) {
            r.fail("position page list is not ascending within guest memory");
        }
        page += delta;
        p.pages.push_back(page);
    }
    return p;
}

template <class T>
void framed(ByteWriter& w, RecordKind kind, const T& body_writer) {
    ByteWriter body;
    body_writer(body);
    w.u8(static_cast<uint8_t>(kind));
    w.blob(body.data());
}

} // namespace

std::string input_kind_name(uint8_t kind) {
    switch (static_cast<InputKind>(kind)) {
    case InputKind::PortRead:
        return "port-read";
    case InputKind::MmioRead:
        return "mmio-read";
    case InputKind::Interrupt:
        return "interrupt";
    case InputKind::Rdtsc:
        return "rdtsc";
    case InputKind::Dma:
        return "dma";
    case InputKind::ConsoleInput:
        return "console-input";
    case InputKind::Nmi:
        return "nmi";
    case InputKind::ClockSkip:
        return "clock-skip";
    case InputKind::VcpuSwitch:
        return "vcpu-switch";
    case InputKind::VcpuInit:
        return "vcpu-init";
    case InputKind::VcpuStartup:
        return "vcpu-startup";
    }
    return "input " + std::to_string(kind);
}

bool is_synchronous_input(uint8_t kind) {
    auto k = static_cast<InputKind>(kind);
    return k == InputKind::PortRead || k == InputKind::MmioRead || k == InputKind::Rdtsc;
}

std::string record_kind_name(const LogRecord& record) {
    switch (record.index()) {
    case 0:
        return "input";
    case 1:
        return "console";
    case 2:
        return "state-hash";
    default:
        return "record-end";
    }
}

void encode_log_record(ByteWriter& w, const LogRecord& record) {
    if (const auto* in = std::get_if<InputRecord>(&record)) {
        framed(w, RecordKind::Input, [&](ByteWriter& b) {
            b.u8(in->kind);
            b.varint(in->vcpu);
            b.varint(in->instruction_count);
            b.u64(in->rip);
            b.u64(in->address);
            b.u8(in->size);
            b.u64(in->value);
            // Version 2 of the body: a flags byte (bit 0: a position
            // follows). Fields after it are a later version's.
            b.u8(in->position ? 1 : 0);
            if (in->position) {
                encode_position(b, *in->position);
            }
        });
    } else if (const auto* c = std::get_if<ConsoleRecord>(&record)) {
        framed(w, RecordKind::Console, [&](ByteWriter& b) {
            b.varint(c->vcpu);
            b.varint(c->instruction_count);
            b.blob(c->bytes);
        });
    } else if (const auto* h = std::get_if<StateHashRecord>(&record)) {
        framed(w, RecordKind::StateHash, [&](ByteWriter& b) {
            b.varint(h->vcpu);
            b.varint(h->instruction_count);
            b.u64(h->register_hash);
            b.u64(h->memory_hash);
            if (!h->vcpu_state.empty() || !h->page_hashes.empty() ||
                !h->other_vcpu_states.empty()) {
                b.blob(h->vcpu_state);
                b.varint(h->page_hashes.size());
                for (uint64_t page : h->page_hashes) {
                    b.u64(page);
                }
                if (!h->other_vcpu_states.empty()) {
                    b.varint(h->other_vcpu_states.size());
                    for (const std::vector<uint8_t>& state : h->other_vcpu_states) {
                        b.blob(state);
                    }
                }
            }
        });
    } else {
        throw Error("encoding a log record", "the record end goes in its own chunk");
    }
}

std::vector<LogRecord> decode_log_chunk(std::span<const uint8_t> payload,
                                        std::map<uint8_t, uint64_t>& skipped) {
    ByteReader r(payload, "log chunk");
    std::vector<LogRecord> records;
    while (!r.at_end()) {
        const size_t record_start = r.position();
        uint8_t kind = r.u8();
        uint64_t length = r.varint();
        if (length > r.remaining()) {
            r.fail("record of " + std::to_string(length) + " bytes overruns its chunk");
        }
        auto body = r.bytes(static_cast<size_t>(length));
        // Fields a later version appends to a body stay unread on purpose.
        ByteReader b(body, "log record at byte " + std::to_string(record_start) + " of its chunk");
        switch (static_cast<RecordKind>(kind)) {
        case RecordKind::Input: {
            InputRecord in;
            in.kind = b.u8();
            in.vcpu = get_u32_varint(b, "vCPU");
            in.instruction_count = b.varint();
            in.rip = b.u64();
            in.address = b.u64();
            in.size = b.u8();
            in.value = b.u64();
            if (!b.at_end() && (b.u8() & 1)) {
                in.position = decode_position(b);
            }
            records.emplace_back(std::move(in));
            break;
        }
        case RecordKind::Console: {
            ConsoleRecord c;
            c.vcpu = get_u32_varint(b, "vCPU");
            c.instruction_count = b.varint();
            c.bytes = b.blob(kMaxUncompressedChunk);
            records.emplace_back(std::move(c));
            break;
        }
        case RecordKind::StateHash: {
            StateHashRecord h;
            h.vcpu = get_u32_varint(b, "vCPU");
            h.instruction_count = b.varint();
            h.register_hash = b.u64();
            h.memory_hash = b.u64();
            if (!b.at_end()) {
                h.vcpu_state = b.blob(kMaxUncompressedChunk);
                uint64_t pages = b.count(8);
                h.page_hashes.reserve(static_cast<size_t>(pages));
                for (uint64_t i = 0; i < pages; ++i) {
                    h.page_hashes.push_back(b.u64());
                }
                if (!b.at_end()) {
                    // At most one state per vCPU krr can run, each a blob.
                    uint64_t others = b.count(1);
                    if (others >= kMaxVcpus) {
                        b.fail("state hash with " + std::to_string(others) + " other vCPU states");
                    }
                    for (uint64_t i = 0; i < others; ++i) {
                        h.other_vcpu_states.push_back(b.blob(kMaxUncompressedChunk));
                    }
                }
            }
            records.emplace_back(std::move(h));
            break;
        }
        default:
            ++skipped[kind];
            break;
        }
    }
    return records;
}

std::vector<uint8_t> encode_record_end(const RecordEnd& e) {
    ByteWriter w;
    w.string(e.reason);
    w.u8(e.exit_status ? 1 : 0);
    w.u32(e.exit_status.value_or(0));
    w.varint(e.final_instruction_count);
    if (e.position) {
        w.u8(1);
        encode_position(w, *e.position);
    }
    return w.take();
}

RecordEnd decode_record_end(std::span<const uint8_t> payload) {
    ByteReader r(payload, "record end");
    RecordEnd e;
    e.reason = r.string(4096);
    uint8_t has_status = r.u8();
    uint32_t status = r.u32();
    if (has_status > 1) {
        r.fail("exit status flag " + std::to_string(has_status) + " is not 0 or 1");
    }
    if (has_status) {
        e.exit_status = status;
    }
    e.final_instruction_count = r.varint();
    if (!r.at_end()) {
        if (r.u8() != 1) {
            r.fail("unknown fields after the final instruction count");
        }
        e.position = decode_position(r);
    }
    r.expect_end();
    return e;
}

} // namespace krr::trace
