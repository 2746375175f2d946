// The positions file of a KVM recording (guest-model/trace/trace_positions.h):
// its codec refuses every damaged or truncated file, the file on disk is
// tied to the log it was resolved from, and applying it fills exactly the
// records that await a count.
#include "guest-model/byte_codec.h"
#include "guest-model/checksum.h"
#include "guest-model/error.h"
#include "guest-model/trace/trace_files.h"
#include "guest-model/trace/trace_positions.h"
#include "tests/guest-model/trace/sample_trace.h"
#include "tests/guest-model/trace/temp_dir.h"

#include <algorithm>
#include <doctest/doctest.h>
#include <filesystem>
#include <type_traits>

using namespace krr::trace;
using krr::test::read_file;
using krr::test::TempDir;
using krr::test::write_file;

namespace {

// The file's layout, spelled out here rather than taken from the code under
// test, so a change to the format shows as a failing test.
constexpr size_t kMagicBytes = 8;
constexpr size_t kVersionAt = 8;
constexpr size_t kLengthAt = 12;
constexpr size_t kChecksumAt = 20;
constexpr size_t kBodyAt = 28;

// A file with a correct header and checksum around `body`, so the body's
// own checks are what a test reaches.
std::vector<uint8_t> framed(const std::vector<uint8_t>& body) {
    krr::ByteWriter w;
    const char magic[kMagicBytes] = {'K', 'R', 'R', 'P', 'O', 'S', 'N', '\n'};
    w.bytes({reinterpret_cast<const uint8_t*>(magic), sizeof magic});
    w.u32(kPositionsFormatVersion);
    w.u64(body.size());
    w.u64(krr::checksum64(body));
    w.bytes(body);
    return w.take();
}

// A body of raw deltas, as the encoder would write them.
std::vector<uint8_t> body_of_deltas(uint64_t key, uint64_t claimed_counts,
                                    std::initializer_list<uint64_t> deltas) {
    krr::ByteWriter b;
    b.u64(key);
    b.varint(claimed_counts);
    for (uint64_t d : deltas) {
        b.varint(d);
    }
    return b.take();
}

ResolvedPositions many_positions() {
    ResolvedPositions p{0x0123456789abcdefULL, {}};
    uint64_t count = 0;
    for (uint64_t i = 0; i < 1000; ++i) {
        count += (i % 7 == 0) ? 0 : i * i * 977; // repeats too: counts only never decrease
        p.counts.push_back(count);
    }
    return p;
}

std::vector<std::string> file_names(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

StatePosition sample_position(uint64_t seed) {
    StatePosition p;
    for (size_t i = 0; i < p.gpr.size(); ++i) {
        p.gpr[i] = seed * 0x100 + i;
    }
    p.rflags = 0x246;
    p.memory_hash = seed ^ 0xfeedface;
    p.pages = {seed, seed + 3};
    return p;
}

} // namespace

TEST_CASE("positions round-trip: none, one, many, and counts at the top of the range") {
    ResolvedPositions p;
    SUBCASE("empty") {
        p = {0, {}};
    }
    SUBCASE("one") {
        p = {42, {7}};
    }
    SUBCASE("many, with repeats") {
        p = many_positions();
    }
    SUBCASE("the largest count that is not kUnresolvedCount") {
        p = {~0ULL, {0, kUnresolvedCount - 2, kUnresolvedCount - 1, kUnresolvedCount - 1}};
    }
    auto bytes = encode_positions(p);
    CHECK(decode_positions(bytes) == p);
    // The layout the other tests here rely on.
    REQUIRE(bytes.size() >= kBodyAt + 8 + 1);
    CHECK(std::string(bytes.begin(), bytes.begin() + kMagicBytes) == "KRRPOSN\n");
    krr::ByteReader header({bytes.data() + kVersionAt, kBodyAt - kVersionAt}, "header");
    CHECK(header.u32() == kPositionsFormatVersion);
    CHECK(header.u64() == bytes.size() - kBodyAt);
    CHECK(bytes == framed(std::vector<uint8_t>(bytes.begin() + kBodyAt, bytes.end())));
}

TEST_CASE("every single-bit flip of a positions file is refused, naming what is wrong") {
    const auto good = encode_positions(many_positions());
    const auto small = encode_positions({5, {1, 2, 3}});
    for (const auto* original : {&good, &small}) {
        for (size_t at = 0; at < original->size(); ++at) {
            for (int bit = 0; bit < 8; ++bit) {
                auto bytes = *original;
                bytes[at] ^= static_cast<uint8_t>(1u << bit);
                CAPTURE(at);
                CAPTURE(bit);
                const char* why = at < kVersionAt    ? "bad magic"
                                  : at < kLengthAt   ? "format version"
                                  : at < kChecksumAt ? "bytes, file holds"
                                                     : "checksum mismatch";
                CHECK_THROWS_WITH_AS(decode_positions(bytes), doctest::Contains(why), krr::Error);
            }
        }
    }
}

TEST_CASE("a positions file cut at every length is refused") {
    const auto bytes = encode_positions(many_positions());
    for (size_t length = 0; length < bytes.size(); ++length) {
        CAPTURE(length);
        CHECK_THROWS_AS(decode_positions({bytes.data(), length}), krr::Error);
    }
    // And one byte too many.
    auto longer = bytes;
    longer.push_back(0);
    CHECK_THROWS_WITH_AS(decode_positions(longer), doctest::Contains("bytes, file holds"),
                         krr::Error);
}

TEST_CASE("a body that checks out is still checked: counts past kUnresolvedCount, "
          "decreasing counts, wrong lengths") {
    SUBCASE("the deltas add up to kUnresolvedCount") {
        auto file = framed(body_of_deltas(1, 2, {kUnresolvedCount - 1, 1}));
        CHECK_THROWS_WITH_AS(decode_positions(file), doctest::Contains("count 1 is out of range"),
                             krr::Error);
    }
    SUBCASE("one count of kUnresolvedCount") {
        auto file = framed(body_of_deltas(1, 1, {kUnresolvedCount}));
        CHECK_THROWS_WITH_AS(decode_positions(file), doctest::Contains("count 0 is out of range"),
                             krr::Error);
    }
    SUBCASE("the deltas wrap around") {
        auto file = framed(body_of_deltas(1, 2, {10, kUnresolvedCount - 5}));
        CHECK_THROWS_AS(decode_positions(file), krr::Error);
    }
    SUBCASE("an encoder handed decreasing counts writes a file the decoder refuses") {
        CHECK_THROWS_AS(decode_positions(encode_positions({1, {5, 3}})), krr::Error);
    }
    SUBCASE("an encoder handed kUnresolvedCount writes a file the decoder refuses") {
        CHECK_THROWS_AS(decode_positions(encode_positions({1, {kUnresolvedCount}})), krr::Error);
    }
    SUBCASE("more counts claimed than the body holds") {
        CHECK_THROWS_AS(decode_positions(framed(body_of_deltas(1, 1000, {1, 2}))), krr::Error);
        CHECK_THROWS_AS(decode_positions(framed(body_of_deltas(1, ~0ULL, {1}))), krr::Error);
    }
    SUBCASE("bytes after the last count") {
        CHECK_THROWS_AS(decode_positions(framed(body_of_deltas(1, 1, {1, 2}))), krr::Error);
    }
    SUBCASE("no log key") {
        CHECK_THROWS_AS(decode_positions(framed({1, 2, 3})), krr::Error);
    }
    SUBCASE("another format version, checksum and all correct") {
        auto file = encode_positions({1, {2}});
        file[kVersionAt] = kPositionsFormatVersion + 1;
        CHECK_THROWS_WITH_AS(decode_positions(file), doctest::Contains("format version 2"),
                             krr::Error);
    }
    SUBCASE("a length larger than anything that fits in memory") {
        auto file = encode_positions({1, {2}});
        for (size_t i = 0; i < 8; ++i) {
            file[kLengthAt + i] = 0xff;
        }
        CHECK_THROWS_AS(decode_positions(file), krr::Error);
    }
}

TEST_CASE("the positions file of a trace: absent, written, read back, replaced") {
    TempDir dir;
    const std::string path = dir / "t";
    krr::test::write_sample_trace(path, 20, 6);
    const auto files_of_trace = file_names(path);

    CHECK_FALSE(read_positions(path).has_value());

    const uint64_t key = log_key(path);
    CHECK(key == krr::checksum64(read_file(path + "/" + kLogFileName)));
    ResolvedPositions p{key, {1, 2, 3, 1000000}};
    write_positions(path, p);
    auto back = read_positions(path);
    REQUIRE(back.has_value());
    CHECK(*back == p);
    CHECK(read_file(path + "/" + kPositionsFileName) == encode_positions(p));

    // Written by renaming a temporary: nothing else is left in the trace.
    auto with_positions = files_of_trace;
    with_positions.push_back(kPositionsFileName);
    std::sort(with_positions.begin(), with_positions.end());
    CHECK(file_names(path) == with_positions);

    // A second resolve replaces the file whole.
    ResolvedPositions again{key, {9}};
    write_positions(path, again);
    CHECK(read_positions(path) == again);
    CHECK(file_names(path) == with_positions);
}

TEST_CASE("a positions file is refused when corrupt or when the log is not the one resolved") {
    TempDir dir;
    const std::string path = dir / "t";
    krr::test::write_sample_trace(path, 20, 6);
    const std::string positions_file = path + "/" + kPositionsFileName;
    const std::string log_file = path + "/" + kLogFileName;
    write_positions(path, {log_key(path), {10, 20}});
    REQUIRE(read_positions(path).has_value());

    SUBCASE("the log changed after resolving") {
        auto log = read_file(log_file);
        log[log.size() / 2] ^= 1;
        write_file(log_file, log);
        CHECK_THROWS_WITH_AS(read_positions(path), doctest::Contains("belongs to another log"),
                             krr::Error);
    }
    SUBCASE("the positions were resolved for another log") {
        write_positions(path, {log_key(path) + 1, {10, 20}});
        CHECK_THROWS_WITH_AS(read_positions(path), doctest::Contains("belongs to another log"),
                             krr::Error);
    }
    SUBCASE("the file is damaged") {
        auto bytes = read_file(positions_file);
        bytes.back() ^= 0x40;
        write_file(positions_file, bytes);
        // The message names the file, so the user knows what to delete.
        CHECK_THROWS_WITH_AS(read_positions(path), doctest::Contains(positions_file.c_str()),
                             krr::Error);
    }
    SUBCASE("the file is empty") {
        write_file(positions_file, {});
        CHECK_THROWS_AS(read_positions(path), krr::Error);
    }
    SUBCASE("the log is gone") {
        std::filesystem::remove(log_file);
        CHECK_THROWS_AS(read_positions(path), krr::Error);
        CHECK_THROWS_AS(log_key(path), krr::Error);
    }
}

TEST_CASE("writing positions where it cannot be done fails cleanly") {
    TempDir dir;
    const std::string missing = dir / "no-such-trace";
    CHECK_THROWS_WITH_AS(write_positions(missing, {1, {2}}), doctest::Contains("cannot be written"),
                         krr::Error);
    CHECK_FALSE(std::filesystem::exists(missing));
    CHECK(file_names(dir.path()).empty());
}

TEST_CASE("apply_positions fills exactly the unresolved records, in order") {
    constexpr uint64_t U = kUnresolvedCount;
    InputRecord port{static_cast<uint8_t>(InputKind::PortRead), 0, U, 0x1000, 0x3f8, 1, 7, {}};
    InputRecord irq{
        static_cast<uint8_t>(InputKind::Interrupt), 0, U, 0x2000, 0x20, 0, 0, sample_position(1)};
    InputRecord resolved_input{static_cast<uint8_t>(InputKind::Rdtsc), 0, 55, 0x3000, 0, 8, 9, {}};
    ConsoleRecord console{0, U, {'h', 'i'}};
    StateHashRecord hash{0, U, 1, 2, {}, {}, {}};
    StateHashRecord resolved_hash{0, 66, 3, 4, {}, {}, {}};
    RecordEnd end{"guest exited", 0, U, sample_position(2)};

    std::vector<LogRecord> records{port, resolved_input, irq, console, resolved_hash, hash, end};
    CHECK(unresolved_records(records) == 5);
    CHECK(is_unresolved(records[0]));
    CHECK_FALSE(is_unresolved(records[1]));
    CHECK(is_unresolved(records[6]));

    SUBCASE("as many counts as unresolved records") {
        apply_positions(records, {0, {10, 20, 30, 40, 50}});
        auto expect = [](auto record, uint64_t count) {
            if constexpr (std::is_same_v<decltype(record), RecordEnd>) {
                record.final_instruction_count = count;
            } else {
                record.instruction_count = count;
            }
            return LogRecord(record);
        };
        std::vector<LogRecord> expected{expect(port, 10),    resolved_input, expect(irq, 20),
                                        expect(console, 30), resolved_hash,  expect(hash, 40),
                                        expect(end, 50)};
        CHECK(records == expected);
        CHECK(unresolved_records(records) == 0);
    }
    SUBCASE("too few counts") {
        CHECK_THROWS_WITH_AS(apply_positions(records, {0, {10, 20, 30, 40}}),
                             doctest::Contains("fewer counts"), krr::Error);
        CHECK_THROWS_AS(apply_positions(records, {0, {}}), krr::Error);
    }
    SUBCASE("too many counts") {
        CHECK_THROWS_WITH_AS(apply_positions(records, {0, {10, 20, 30, 40, 50, 60}}),
                             doctest::Contains("6 counts for 5 unresolved records"), krr::Error);
    }
    SUBCASE("a log with nothing to resolve takes no counts") {
        std::vector<LogRecord> done{resolved_input, resolved_hash};
        apply_positions(done, {0, {}});
        CHECK(done == std::vector<LogRecord>{resolved_input, resolved_hash});
        CHECK_THROWS_AS(apply_positions(done, {0, {1}}), krr::Error);
    }
}
