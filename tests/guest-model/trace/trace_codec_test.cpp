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

TEST_CASE("a state hash's divergence detail round-trips and old bodies still decode") {
    StateHashRecord detailed{0, 77, 1, 2, {9, 8, 7}, {0x1111, 0x2222, 0x3333}};
    StateHashRecord plain{0, 78, 3, 4, {}, {}};
    krr::ByteWriter w;
    encode_log_record(w, detailed);
    encode_log_record(w, plain);
    std::map<uint8_t, uint64_t> skipped;
    auto back = decode_log_chunk(w.data(), skipped);
    REQUIRE(back.size() == 2);
    CHECK(back[0] == LogRecord(detailed));
    CHECK(back[1] == LogRecord(plain));
    // A page-hash count larger than the body can hold is malformed.
    krr::ByteWriter bad;
    krr::ByteWriter body;
    body.varint(0);
    body.varint(79);
    body.u64(5);
    body.u64(6);
    body.blob(std::vector<uint8_t>{});
    body.varint(1000);
    bad.u8(3); // RecordKind::StateHash
    bad.varint(body.size());
    bad.bytes(body.data());
    CHECK_THROWS_AS(decode_log_chunk(bad.data(), skipped), krr::Error);
}
