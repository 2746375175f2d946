#include "guest-model/byte_codec.h"
#include "guest-model/error.h"
#include "guest-model/trace/log_records.h"
#include "guest-model/trace/snapshot_codec.h"
#include "guest-model/trace/trace_metadata.h"
#include "tests/guest-model/trace/sample_trace.h"

#include <doctest/doctest.h>

using namespace krr::trace;

namespace {

// Metadata fields rebuilt by hand: tag, varint length, body.
void tagged(krr::ByteWriter& w, uint16_t tag, std::initializer_list<uint8_t> body) {
    w.u16(tag);
    w.varint(body.size());
    for (uint8_t b : body) {
        w.u8(b);
    }
}

} // namespace

TEST_CASE("metadata round-trips every field") {
    TraceMetadata m = krr::test::sample_metadata(2);
    m.format_version = kFormatVersion;
    TraceMetadata back = decode_metadata(encode_metadata(m));
    CHECK(back == m);
    CHECK(back.cpuid.entries.size() == m.cpuid.entries.size());
    CHECK(back.guest_command.at(2) == "echo 'hi there'; exit 3");
}

TEST_CASE("metadata: the optional KVM flavour round-trips, and only 'pvm' under KVM") {
    TraceMetadata m = krr::test::sample_metadata();
    m.format_version = kFormatVersion;
    m.accelerator = "kvm";
    CHECK(decode_metadata(encode_metadata(m)).kvm_flavor.empty());
    m.kvm_flavor = "pvm";
    CHECK(decode_metadata(encode_metadata(m)).kvm_flavor == "pvm");
    TraceMetadata other = m;
    other.kvm_flavor = "xen";
    CHECK_THROWS_AS(decode_metadata(encode_metadata(other)), krr::Error);
    other = m;
    other.accelerator = "tcg";
    CHECK_THROWS_AS(decode_metadata(encode_metadata(other)), krr::Error);
}

TEST_CASE("metadata skips unknown tags and insists on mandatory ones") {
    TraceMetadata m = krr::test::sample_metadata();
    auto bytes = encode_metadata(m);
    SUBCASE("a field from a later writer is skipped") {
        krr::ByteWriter w;
        tagged(w, 900, {1, 2, 3, 4, 5});
        auto extra = w.take();
        bytes.insert(bytes.begin(), extra.begin(), extra.end());
        TraceMetadata back = decode_metadata(bytes);
        CHECK(back.memory_size == m.memory_size);
        CHECK(back.accelerator == "tcg");
    }
    SUBCASE("a missing mandatory field is an error") {
        // Field 1 (format version) is first: tag, length 4, u32.
        REQUIRE(bytes[0] == 1);
        REQUIRE(bytes[2] == 4);
        std::vector<uint8_t> rest(bytes.begin() + 7, bytes.end());
        CHECK_THROWS_WITH_AS(decode_metadata(rest),
                             doctest::Contains("field 1 (format version) is missing"), krr::Error);
    }
    SUBCASE("a repeated field is an error") {
        std::vector<uint8_t> twice(bytes.begin(), bytes.begin() + 7);
        twice.insert(twice.end(), bytes.begin(), bytes.end());
        CHECK_THROWS_WITH_AS(decode_metadata(twice), doctest::Contains("appears twice"),
                             krr::Error);
    }
    SUBCASE("another format version is refused") {
        bytes[3] = 9;
        CHECK_THROWS_WITH_AS(decode_metadata(bytes),
                             doctest::Contains("format version 9 is not supported"), krr::Error);
    }
    SUBCASE("a length running past the end is an error") {
        krr::ByteWriter w;
        w.u16(2);
        w.varint(1000);
        w.u8('x');
        CHECK_THROWS_AS(decode_metadata(w.data()), krr::Error);
    }
}

TEST_CASE("metadata refuses impossible machines") {
    TraceMetadata m = krr::test::sample_metadata();
    SUBCASE("memory not a whole number of pages") {
        m.memory_size = 4097;
    }
    SUBCASE("no memory") {
        m.memory_size = 0;
    }
    SUBCASE("absurd memory") {
        m.memory_size = 1ULL << 50;
    }
    SUBCASE("no vCPU") {
        m.vcpu_count = 0;
    }
    SUBCASE("too many vCPUs") {
        m.vcpu_count = 100000;
    }
    CHECK_THROWS_AS(decode_metadata(encode_metadata(m)), krr::Error);
}

TEST_CASE("a CPUID count larger than the field is refused before allocating") {
    krr::ByteWriter w;
    tagged(w, 8, {0xff, 0xff, 0xff, 0xff, 0x0f}); // varint count 2^32-1, no entries
    CHECK_THROWS_WITH_AS(decode_metadata(w.data()), doctest::Contains("cannot fit"), krr::Error);
}

TEST_CASE("vCPU state round-trips every field of machine_state.h") {
    for (uint32_t id : {0u, 3u}) {
        krr::VcpuState v = krr::test::sample_vcpu(id);
        auto bytes = encode_vcpu_state(v);
        // The documented layout: id and count, 16 GPRs, rip, rflags, 8
        // segments of 23 bytes, 2 tables of 10, 5 CRs, 6 DRs, 13 MSRs, the
        // FPU (27 bytes of control, 8 x 16 ST, 16 x 16 XMM), 4 event bytes.
        CHECK(bytes.size() == 12 + 16 * 8 + 16 + 8 * 23 + 2 * 10 + 5 * 8 + 6 * 8 + 13 * 8 + 27 +
                                  8 * 16 + 16 * 16 + 4);
        krr::VcpuState back = decode_vcpu_state(bytes);
        CHECK(back == v);
        // A state cut short or padded is refused.
        bytes.pop_back();
        CHECK_THROWS_AS(decode_vcpu_state(bytes), krr::Error);
        bytes.push_back(0);
        bytes.push_back(0);
        CHECK_THROWS_AS(decode_vcpu_state(bytes), krr::Error);
    }
    // Each field lands somewhere: changing any one changes the encoding.
    krr::VcpuState a = krr::test::sample_vcpu(0);
    krr::VcpuState b = a;
    b.cpu.fpu.xmm[15][15] ^= 1;
    CHECK(encode_vcpu_state(a) != encode_vcpu_state(b));
    b = a;
    b.cpu.events.nmi_masked = 0;
    CHECK(encode_vcpu_state(a) != encode_vcpu_state(b));
    b = a;
    b.cpu.msr.tsc_offset ^= 1;
    CHECK(encode_vcpu_state(a) != encode_vcpu_state(b));
}

TEST_CASE("memory chunks are checked against the guest's size and order") {
    std::vector<uint8_t> page(4096, 0x5a);
    krr::ByteWriter w;
    encode_memory_run(w, 3, page);
    encode_memory_run(w, 7, page);
    uint64_t next = 0;
    auto runs = decode_memory_chunk(w.data(), 8 * 4096, next);
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].first_page == 3);
    CHECK(runs[1].first_page == 7);
    CHECK(runs[1].bytes == page);
    CHECK(next == 8);

    next = 0;
    CHECK_THROWS_WITH_AS(decode_memory_chunk(w.data(), 7 * 4096, next),
                         doctest::Contains("beyond guest memory"), krr::Error);
    next = 5;
    CHECK_THROWS_WITH_AS(decode_memory_chunk(w.data(), 8 * 4096, next),
                         doctest::Contains("overlaps"), krr::Error);
    krr::ByteWriter huge;
    huge.varint(0);
    huge.varint(1ULL << 40); // pages that are not there
    next = 0;
    CHECK_THROWS_AS(decode_memory_chunk(huge.data(), 1ULL << 40, next), krr::Error);
}

TEST_CASE("log records round-trip in order; unknown kinds and appended fields are skipped") {
    auto records = krr::test::sample_records(10);
    krr::ByteWriter w;
    for (const auto& r : records) {
        encode_log_record(w, r);
    }
    // A record kind from a later version, between the others.
    w.u8(77);
    w.varint(3);
    w.u8(1);
    w.u8(2);
    w.u8(3);
    // A known kind with a field appended by a later version (an input:
    // state hashes define their appended detail, see the next test).
    w.u8(1);
    w.varint(1 + 1 + 1 + 8 + 8 + 1 + 8 + 1 + 2);
    w.u8(1);   // kind: port read
    w.u8(0);   // vcpu
    w.u8(5);   // instruction count
    w.u64(11); // rip
    w.u64(22); // port
    w.u8(1);   // size
    w.u64(33); // value
    w.u8(0);   // flags: no position
    w.u16(0xbeef);
    std::map<uint8_t, uint64_t> skipped;
    auto back = decode_log_chunk(w.data(), skipped);
    REQUIRE(back.size() == 11);
    for (size_t i = 0; i < 10; ++i) {
        CHECK(back[i] == records[i]);
    }
    CHECK(back[10] == LogRecord(InputRecord{1, 0, 5, 11, 22, 1, 33, {}}));
    CHECK(skipped == std::map<uint8_t, uint64_t>{{77, 1}});

    krr::ByteWriter bad;
    bad.u8(1);
    bad.varint(1000);
    CHECK_THROWS_WITH_AS(decode_log_chunk(bad.data(), skipped), doctest::Contains("overruns"),
                         krr::Error);
    CHECK_THROWS_AS(encode_log_record(w, RecordEnd{}), krr::Error);
}

TEST_CASE("record end and snapshot end round-trip") {
    RecordEnd e{"crash: BUG at foo.c:12", std::nullopt, 99, {}};
    CHECK(decode_record_end(encode_record_end(e)) == e);
    CHECK(decode_record_end(encode_record_end(krr::test::kSampleEnd)) == krr::test::kSampleEnd);
    SnapshotEnd s{12, 2, 3};
    CHECK(decode_snapshot_end(encode_snapshot_end(s)) == s);
    DeviceState d{"ioapic", {9, 8, 7}};
    CHECK(decode_device_state(encode_device_state(d)) == d);
}

namespace {

// Both records through one log chunk and back, unchanged.
void check_round_trip(const StateHashRecord& first, const StateHashRecord& second) {
    krr::ByteWriter w;
    encode_log_record(w, first);
    encode_log_record(w, second);
    std::map<uint8_t, uint64_t> skipped;
    auto back = decode_log_chunk(w.data(), skipped);
    REQUIRE(back.size() == 2);
    CHECK(back[0] == LogRecord(first));
    CHECK(back[1] == LogRecord(second));
}

// A state hash body up to its (empty) vCPU state, for malformed bodies.
krr::ByteWriter state_hash_body_start(uint64_t instruction_count) {
    krr::ByteWriter body;
    body.varint(0);
    body.varint(instruction_count);
    body.u64(5);
    body.u64(6);
    body.blob(std::vector<uint8_t>{});
    return body;
}

// `body` framed as a state hash record, decoded.
void decode_state_hash_body(const krr::ByteWriter& body) {
    krr::ByteWriter chunk;
    chunk.u8(3); // RecordKind::StateHash
    chunk.varint(body.size());
    chunk.bytes(body.data());
    std::map<uint8_t, uint64_t> skipped;
    (void)decode_log_chunk(chunk.data(), skipped);
}

} // namespace

TEST_CASE("a state hash's divergence detail round-trips and old bodies still decode") {
    check_round_trip({0, 77, 1, 2, {9, 8, 7}, {0x1111, 0x2222, 0x3333}, {}},
                     {0, 78, 3, 4, {}, {}, {}});
    // A page-hash count larger than the body can hold is malformed.
    krr::ByteWriter body = state_hash_body_start(79);
    body.varint(1000);
    CHECK_THROWS_AS(decode_state_hash_body(body), krr::Error);
}

TEST_CASE("a state hash of several vCPUs keeps every other vCPU's state") {
    check_round_trip({1, 80, 5, 6, {1, 2}, {0x4444}, {{3, 4, 5}, {}, {6}}},
                     {0, 81, 7, 8, {1, 2}, {0x5555}, {}});
    // More other states than vCPUs krr can have, or one cut short: malformed.
    for (uint64_t others : {uint64_t{kMaxVcpus}, uint64_t{2}}) {
        krr::ByteWriter body = state_hash_body_start(82);
        body.varint(0); // no page hashes
        body.varint(others);
        body.blob(std::vector<uint8_t>{1});
        CHECK_THROWS_AS(decode_state_hash_body(body), krr::Error);
    }
}

namespace {

// A KVM recording's position, every field distinct.
StatePosition sample_position() {
    StatePosition p;
    for (size_t i = 0; i < p.gpr.size(); ++i) {
        p.gpr[i] = 0x1111111111111111ULL * (i + 1) + i;
    }
    p.rflags = 0x10246; // RF too: the codec carries what it is given
    p.memory_hash = 0x0123456789abcdefULL;
    p.pages = {0, 1, 2, 300, 70000, kMaxMemorySize / 4096 - 1};
    return p;
}

// One framed input record with `body` as its body.
std::vector<uint8_t> input_frame(const std::vector<uint8_t>& body) {
    krr::ByteWriter w;
    w.u8(1); // RecordKind::Input
    w.blob(body);
    return w.take();
}

// An interrupt's body up to and including its flags byte.
krr::ByteWriter interrupt_body(uint8_t flags) {
    krr::ByteWriter b;
    b.u8(static_cast<uint8_t>(InputKind::Interrupt));
    b.varint(0);                // vcpu
    b.varint(kUnresolvedCount); // instruction count
    b.u64(0xffffffff81001234ULL);
    b.u64(0x20); // vector
    b.u8(0);
    b.u64(0); // value
    b.u8(flags);
    return b;
}

// A position encoded by hand: registers, then the page count and deltas as
// given (the encoder would not write a malformed list).
void raw_position(krr::ByteWriter& b, uint64_t page_count, std::initializer_list<uint64_t> deltas) {
    for (int i = 0; i < 18; ++i) { // 16 GPRs, RFLAGS, memory hash
        b.u64(static_cast<uint64_t>(i));
    }
    b.varint(page_count);
    for (uint64_t d : deltas) {
        b.varint(d);
    }
}

// The record-end payload up to the final count, as encode_record_end writes it.
krr::ByteWriter record_end_head() {
    krr::ByteWriter w;
    w.string("guest exited");
    w.u8(1);
    w.u32(0);
    w.varint(kUnresolvedCount);
    return w;
}

std::vector<LogRecord> decode_all(std::span<const uint8_t> chunk) {
    std::map<uint8_t, uint64_t> skipped;
    auto records = decode_log_chunk(chunk, skipped);
    CHECK(skipped.empty());
    return records;
}

} // namespace

TEST_CASE("an input with a state position round-trips, beside inputs without one") {
    InputRecord irq{static_cast<uint8_t>(InputKind::Interrupt),
                    1,
                    kUnresolvedCount,
                    0xffffffff81001234ULL,
                    0xec,
                    0,
                    1, // RF, carried for replay
                    sample_position()};
    InputRecord nmi{static_cast<uint8_t>(InputKind::Nmi),
                    0,
                    kUnresolvedCount,
                    0x401000,
                    2,
                    0,
                    0,
                    StatePosition{}};
    InputRecord port{static_cast<uint8_t>(InputKind::PortRead),
                     0,
                     kUnresolvedCount,
                     0x401002,
                     0x3f8,
                     1,
                     0x41,
                     std::nullopt};
    krr::ByteWriter w;
    for (const InputRecord& r : {irq, nmi, port}) {
        encode_log_record(w, r);
    }
    auto back = decode_all(w.data());
    REQUIRE(back.size() == 3);
    CHECK(back[0] == LogRecord(irq));
    CHECK(back[1] == LogRecord(nmi));
    CHECK(back[2] == LogRecord(port));
    REQUIRE(std::get<InputRecord>(back[0]).position.has_value());
    CHECK(std::get<InputRecord>(back[0]).position->pages == sample_position().pages);
    CHECK_FALSE(std::get<InputRecord>(back[2]).position.has_value());
}

TEST_CASE("a record end with a state position round-trips") {
    RecordEnd end{"guest exited", 0, kUnresolvedCount, sample_position()};
    CHECK(decode_record_end(encode_record_end(end)) == end);
    RecordEnd no_pages{"crash", std::nullopt, kUnresolvedCount, StatePosition{}};
    CHECK(decode_record_end(encode_record_end(no_pages)) == no_pages);
}

TEST_CASE("a position whose pages are not ascending within guest memory is refused") {
    const uint64_t max_page = kMaxMemorySize / 4096;
    StatePosition p = sample_position();
    SUBCASE("a page repeated") {
        p.pages = {5, 5};
    }
    SUBCASE("pages descending") {
        p.pages = {5, 3};
    }
    SUBCASE("a page past the largest guest memory") {
        p.pages = {max_page + 1};
    }
    SUBCASE("deltas that add up past the largest guest memory") {
        p.pages = {max_page - 10, max_page + 10};
    }
    SUBCASE("a page number near 2^64") {
        p.pages = {~0ULL};
    }
    InputRecord irq{
        static_cast<uint8_t>(InputKind::Interrupt), 0, kUnresolvedCount, 1, 0x20, 0, 0, p};
    krr::ByteWriter w;
    encode_log_record(w, irq);
    CHECK_THROWS_WITH_AS(decode_all(w.data()), doctest::Contains("not ascending"), krr::Error);
    RecordEnd end{"guest exited", 0, kUnresolvedCount, p};
    CHECK_THROWS_WITH_AS(decode_record_end(encode_record_end(end)),
                         doctest::Contains("not ascending"), krr::Error);
}

TEST_CASE("a position claiming more pages than its bytes hold is refused before allocating") {
    for (uint64_t claimed : {3ULL, 1000ULL, 1ULL << 40, ~0ULL}) {
        CAPTURE(claimed);
        krr::ByteWriter body = interrupt_body(1);
        raw_position(body, claimed, {1, 1});
        CHECK_THROWS_AS(decode_all(input_frame(body.take())), krr::Error);

        krr::ByteWriter end = record_end_head();
        end.u8(1);
        raw_position(end, claimed, {1, 1});
        CHECK_THROWS_AS(decode_record_end(end.data()), krr::Error);
    }
}

TEST_CASE("an input cut anywhere inside its position is refused") {
    InputRecord irq{static_cast<uint8_t>(InputKind::Interrupt),
                    0,
                    kUnresolvedCount,
                    1,
                    0x20,
                    0,
                    0,
                    sample_position()};
    krr::ByteWriter w;
    encode_log_record(w, irq);
    const auto& frame = w.data();
    // The frame is kind, a varint length, then the body.
    krr::ByteReader r(frame, "frame");
    r.u8();
    const size_t length = static_cast<size_t>(r.varint());
    const size_t body_at = r.position();
    REQUIRE(body_at + length == frame.size());
    const size_t flags_at = 1 + 1 + 10 + 8 + 8 + 1 + 8; // kind, vcpu, count (10: ~0), ...
    REQUIRE(frame[body_at + flags_at] == 1);
    for (size_t cut = flags_at + 1; cut < length; ++cut) {
        CAPTURE(cut);
        std::vector<uint8_t> body(frame.begin() + static_cast<ptrdiff_t>(body_at),
                                  frame.begin() + static_cast<ptrdiff_t>(body_at + cut));
        CHECK_THROWS_AS(decode_all(input_frame(body)), krr::Error);
    }
    // The record end likewise.
    auto end = encode_record_end({"guest exited", 0, kUnresolvedCount, sample_position()});
    const size_t end_head = record_end_head().size();
    for (size_t cut = end_head + 1; cut < end.size(); ++cut) {
        CAPTURE(cut);
        CHECK_THROWS_AS(decode_record_end({end.data(), cut}), krr::Error);
    }
}

TEST_CASE("an input whose flags say no position ignores a later version's fields") {
    for (uint8_t flags : {0, 2, 0x80, 0xfe}) {
        CAPTURE(flags);
        krr::ByteWriter body = interrupt_body(flags);
        // Bytes that would read as a position if the flags were misread.
        raw_position(body, 1, {7});
        body.u16(0xbeef);
        auto back = decode_all(input_frame(body.take()));
        REQUIRE(back.size() == 1);
        const auto& in = std::get<InputRecord>(back[0]);
        CHECK_FALSE(in.position.has_value());
        CHECK(in.instruction_count == kUnresolvedCount);
        CHECK(in.address == 0x20);
    }
    // With the flag, the position is read and what follows it skipped.
    krr::ByteWriter body = interrupt_body(1);
    raw_position(body, 1, {7});
    body.u16(0xbeef);
    auto back = decode_all(input_frame(body.take()));
    REQUIRE(back.size() == 1);
    const auto& in = std::get<InputRecord>(back[0]);
    REQUIRE(in.position.has_value());
    CHECK(in.position->pages == std::vector<uint64_t>{7});
    CHECK(in.position->gpr[15] == 15);
    CHECK(in.position->rflags == 16);
    CHECK(in.position->memory_hash == 17);
}

TEST_CASE("a record end with anything but a position after its count is refused") {
    for (uint8_t marker : {0, 2, 0x81, 0xff}) {
        CAPTURE(marker);
        krr::ByteWriter end = record_end_head();
        end.u8(marker);
        raw_position(end, 0, {});
        CHECK_THROWS_WITH_AS(decode_record_end(end.data()), doctest::Contains("unknown fields"),
                             krr::Error);
        krr::ByteWriter lone = record_end_head();
        lone.u8(marker);
        CHECK_THROWS_AS(decode_record_end(lone.data()), krr::Error);
    }
    // A position followed by more bytes is refused too: the record end has no
    // room for a later version's fields.
    auto end = encode_record_end({"guest exited", 0, kUnresolvedCount, sample_position()});
    end.push_back(0);
    CHECK_THROWS_AS(decode_record_end(end), krr::Error);
    // The marker without a position.
    krr::ByteWriter marker_only = record_end_head();
    marker_only.u8(1);
    CHECK_THROWS_AS(decode_record_end(marker_only.data()), krr::Error);
}
