// The activity file's encoding: a round trip keeps every field, and a file
// that was cut, flipped, reordered or written by another version is refused
// with krr::Error rather than believed.
#include "activity/activity_index.h"
#include "guest-model/byte_codec.h"
#include "guest-model/checksum.h"
#include "guest-model/error.h"

#include <doctest/doctest.h>

using namespace krr::activity;

namespace {

ActivityIndex sample_index() {
    ActivityIndex index;
    index.staleness_key = 0x1122334455667788ULL;
    index.start_instruction = 1000;
    index.end_instruction = 5000;
    index.tasks = {true, 0x5a0, 0x738};
    index.notes = {"a note"};
    ActivityEvent syscall;
    syscall.kind = EventKind::Syscall;
    syscall.position = {1200, 3, 0};
    syscall.code = 39;
    syscall.args = {7, 0xffffffffffffffffULL, 0};
    syscall.address = 0x401000;
    syscall.returned_at = 1300;
    syscall.result = 79;
    ActivityEvent fault;
    fault.kind = EventKind::PageFault;
    fault.position = {1200, 3, 1};
    fault.address = 0xdead000;
    fault.args = {6, 0x401010, 0};
    ActivityEvent crash;
    crash.kind = EventKind::Crash;
    crash.position = {4999, 9, 0};
    crash.text = "BUG: KASAN: use-after-free in f+0x1/0x2";
    index.events = {syscall, fault, crash};
    return index;
}

// Re-frames a modified body with a correct checksum, so the body's own
// checks (not the checksum) must catch what is wrong with it.
std::vector<uint8_t> reframe(const std::vector<uint8_t>& file, std::vector<uint8_t> body) {
    krr::ByteWriter w;
    w.bytes(std::span<const uint8_t>(file.data(), 12));
    w.u64(body.size());
    w.u64(krr::checksum64(body));
    w.bytes(body);
    return w.take();
}

constexpr size_t kHeader = 8 + 4 + 8 + 8;

} // namespace

TEST_CASE("activity index: round trip keeps every field") {
    ActivityIndex index = sample_index();
    std::vector<uint8_t> bytes = encode_activity_index(index);
    ActivityIndex back = decode_activity_index(bytes);
    CHECK(back == index);
    CHECK(back.events.at(1).position.deliveries == 1);
    CHECK(back.events.at(0).args[1] == 0xffffffffffffffffULL);
    CHECK(back.events.at(0).returned_at == 1300);
    CHECK(back.events.at(0).result == 79);
}

TEST_CASE("activity index: a call that returns before it was made, or after the end, is refused") {
    ActivityIndex index = sample_index();
    index.events[0].returned_at = 1100; // made at 1200
    CHECK_THROWS_WITH_AS(decode_activity_index(encode_activity_index(index)),
                         doctest::Contains("returns before"), krr::Error);
    index.events[0].returned_at = 5001; // the trace ends at 5000
    CHECK_THROWS_WITH_AS(decode_activity_index(encode_activity_index(index)),
                         doctest::Contains("outside the indexed range"), krr::Error);
}

TEST_CASE("activity index: every truncation is an error") {
    std::vector<uint8_t> bytes = encode_activity_index(sample_index());
    for (size_t n = 0; n < bytes.size(); ++n) {
        std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
        CHECK_THROWS_AS(decode_activity_index(cut), krr::Error);
    }
}

TEST_CASE("activity index: a flipped byte fails the checksum or the header") {
    std::vector<uint8_t> bytes = encode_activity_index(sample_index());
    for (size_t i = 0; i < bytes.size(); ++i) {
        std::vector<uint8_t> bad = bytes;
        bad[i] ^= 0x40;
        CHECK_THROWS_AS(decode_activity_index(bad), krr::Error);
    }
}

TEST_CASE("activity index: another format version is refused by name") {
    std::vector<uint8_t> bytes = encode_activity_index(sample_index());
    bytes[8] = static_cast<uint8_t>(kActivityFormatVersion + 1);
    CHECK_THROWS_WITH_AS(decode_activity_index(bytes), doctest::Contains("format version"),
                         krr::Error);
}

TEST_CASE("activity index: events out of time order are refused") {
    ActivityIndex index = sample_index();
    std::swap(index.events[0], index.events[2]);
    std::vector<uint8_t> bytes = encode_activity_index(index);
    CHECK_THROWS_WITH_AS(decode_activity_index(bytes), doctest::Contains("out of time order"),
                         krr::Error);
}

TEST_CASE("activity index: an unknown kind and an event outside the range are refused") {
    ActivityIndex index = sample_index();
    index.events.resize(1);
    std::vector<uint8_t> bytes = encode_activity_index(index);
    std::vector<uint8_t> body(bytes.begin() + kHeader, bytes.end());
    // Find the event count followed by the Syscall kind byte from the end of
    // the fixed part: count (1) then kind (1).
    size_t at = 0;
    for (size_t i = 0; i + 1 < body.size(); ++i) {
        if (body[i] == 1 && body[i + 1] == static_cast<uint8_t>(EventKind::Syscall)) {
            at = i + 1;
        }
    }
    REQUIRE(at != 0);
    std::vector<uint8_t> unknown = body;
    unknown[at] = 99;
    CHECK_THROWS_WITH_AS(decode_activity_index(reframe(bytes, unknown)),
                         doctest::Contains("unknown event kind"), krr::Error);

    index.events[0].position.instructions = 999; // before the start
    CHECK_THROWS_WITH_AS(decode_activity_index(encode_activity_index(index)),
                         doctest::Contains("outside the indexed range"), krr::Error);
}

TEST_CASE("activity index: a huge event count is refused before allocating") {
    ActivityIndex index = sample_index();
    index.events.clear();
    std::vector<uint8_t> bytes = encode_activity_index(index);
    std::vector<uint8_t> body(bytes.begin() + kHeader, bytes.end());
    REQUIRE(body.back() == 0); // the event count, last
    body.pop_back();
    krr::ByteWriter count;
    count.varint(1ULL << 40);
    body.insert(body.end(), count.data().begin(), count.data().end());
    CHECK_THROWS_WITH_AS(decode_activity_index(reframe(bytes, body)),
                         doctest::Contains("cannot fit"), krr::Error);
}
