// The activity file: magic, format version, then a body framed by its
// length and an XXH3 checksum, so a torn or edited file is caught before any
// of it is believed. Inside the body, events are in time order; decoding
// checks that too, because the timeline's binary searches depend on it.
#include "activity/activity_index.h"
#include "guest-model/byte_codec.h"
#include "guest-model/checksum.h"
#include "guest-model/error.h"
#include "guest-model/trace/trace_files.h"

#include <cstring>
#include <fstream>
#include <iterator>

namespace krr::activity {

namespace {

constexpr char kMagic[8] = {'K', 'R', 'R', 'A', 'C', 'T', 'V', '\n'};
constexpr size_t kMaxText = 4096;
constexpr size_t kMaxNotes = 64;
// kind, vcpu, 3 position varints, code, address, 3 args, text length,
// return count and result.
constexpr size_t kMinEventBytes = 13;
constexpr uint64_t kMaxBody = 1ULL << 32;

const char* const kWhat = "activity index";

void put_event(ByteWriter& w, const ActivityEvent& e) {
    w.u8(static_cast<uint8_t>(e.kind));
    w.varint(e.vcpu);
    w.varint(e.position.instructions);
    w.varint(e.position.inputs);
    w.varint(e.position.deliveries);
    w.varint(e.code);
    w.varint(e.address);
    for (uint64_t a : e.args) {
        w.varint(a);
    }
    w.string(e.text);
    w.varint(e.returned_at);
    w.varint(e.result);
}

ActivityEvent get_event(ByteReader& r) {
    ActivityEvent e;
    uint8_t kind = r.u8();
    if (kind < kFirstEventKind || kind > kLastEventKind) {
        r.fail("unknown event kind " + std::to_string(kind));
    }
    e.kind = static_cast<EventKind>(kind);
    uint64_t vcpu = r.varint();
    if (vcpu >= 256) {
        r.fail("vCPU " + std::to_string(vcpu) + " out of range");
    }
    e.vcpu = static_cast<uint32_t>(vcpu);
    e.position.instructions = r.varint();
    e.position.inputs = r.varint();
    uint64_t deliveries = r.varint();
    if (deliveries > UINT32_MAX) {
        r.fail("delivery count out of range");
    }
    e.position.deliveries = static_cast<uint32_t>(deliveries);
    e.code = r.varint();
    e.address = r.varint();
    for (uint64_t& a : e.args) {
        a = r.varint();
    }
    e.text = r.string(kMaxText);
    e.returned_at = r.varint();
    e.result = r.varint();
    if (e.returned_at != 0 && e.returned_at < e.position.instructions) {
        r.fail("an event returns before it happened");
    }
    return e;
}

} // namespace

std::vector<uint8_t> encode_activity_index(const ActivityIndex& index) {
    ByteWriter body;
    body.u64(index.staleness_key);
    body.varint(index.start_instruction);
    body.varint(index.end_instruction);
    body.u8(index.tasks.known ? 1 : 0);
    body.varint(index.tasks.pid_offset);
    body.varint(index.tasks.comm_offset);
    body.varint(index.notes.size());
    for (const auto& n : index.notes) {
        body.string(n.substr(0, kMaxText));
    }
    body.varint(index.events.size());
    for (const auto& e : index.events) {
        put_event(body, e);
    }
    ByteWriter w;
    w.bytes({reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic});
    w.u32(kActivityFormatVersion);
    w.u64(body.size());
    w.u64(checksum64(body.data()));
    w.bytes(body.data());
    return w.take();
}

ActivityIndex decode_activity_index(std::span<const uint8_t> bytes) {
    ByteReader head(bytes, kWhat);
    auto magic = head.bytes(sizeof kMagic);
    if (std::memcmp(magic.data(), kMagic, sizeof kMagic) != 0) {
        throw Error(kWhat, "not an activity index (bad magic)");
    }
    uint32_t version = head.u32();
    if (version != kActivityFormatVersion) {
        throw Error(kWhat, "format version " + std::to_string(version) + ", this krr reads " +
                               std::to_string(kActivityFormatVersion));
    }
    uint64_t size = head.u64();
    uint64_t checksum = head.u64();
    if (size > kMaxBody || size != head.remaining()) {
        throw Error(kWhat, "body of " + std::to_string(size) + " bytes, file holds " +
                               std::to_string(head.remaining()));
    }
    auto body_bytes = head.bytes(static_cast<size_t>(size));
    if (checksum64(body_bytes) != checksum) {
        throw Error(kWhat, "checksum mismatch");
    }

    ByteReader r(body_bytes, kWhat);
    ActivityIndex index;
    index.staleness_key = r.u64();
    index.start_instruction = r.varint();
    index.end_instruction = r.varint();
    if (index.end_instruction < index.start_instruction) {
        r.fail("ends before it starts");
    }
    uint8_t known = r.u8();
    if (known > 1) {
        r.fail("bad task-layout flag");
    }
    index.tasks.known = known == 1;
    uint64_t pid = r.varint();
    uint64_t comm = r.varint();
    if (pid > 1u << 20 || comm > 1u << 20) {
        r.fail("task_struct offsets out of range");
    }
    index.tasks.pid_offset = static_cast<uint32_t>(pid);
    index.tasks.comm_offset = static_cast<uint32_t>(comm);
    uint64_t notes = r.count(1);
    if (notes > kMaxNotes) {
        r.fail(std::to_string(notes) + " notes");
    }
    for (uint64_t i = 0; i < notes; ++i) {
        index.notes.push_back(r.string(kMaxText));
    }
    uint64_t events = r.count(kMinEventBytes);
    index.events.reserve(static_cast<size_t>(events));
    for (uint64_t i = 0; i < events; ++i) {
        ActivityEvent e = get_event(r);
        if (!index.events.empty() && e.position < index.events.back().position) {
            r.fail("event " + std::to_string(i) + " is out of time order");
        }
        if (e.position.instructions < index.start_instruction ||
            e.position.instructions > index.end_instruction ||
            e.returned_at > index.end_instruction) {
            r.fail("event " + std::to_string(i) + " outside the indexed range");
        }
        index.events.push_back(std::move(e));
    }
    r.expect_end();
    return index;
}

uint64_t staleness_key(const std::string& trace_path, std::string_view system_map_text) {
    uint64_t key = checksum64(
        {reinterpret_cast<const uint8_t*>(system_map_text.data()), system_map_text.size()},
        kIndexerVersion);
    for (const char* name : {trace::kMetadataFileName, trace::kLogFileName}) {
        std::ifstream in(trace_path + "/" + name, std::ios::binary);
        if (!in) {
            throw Error("activity index: " + trace_path, std::string("cannot read its ") + name);
        }
        std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
        key = checksum64(bytes, key);
    }
    return key;
}

} // namespace krr::activity
