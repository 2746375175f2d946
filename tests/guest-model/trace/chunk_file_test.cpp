#include "guest-model/error.h"
#include "guest-model/trace/chunk_file_reader.h"
#include "guest-model/trace/chunk_file_writer.h"
#include "tests/guest-model/trace/temp_dir.h"

#include <algorithm>
#include <doctest/doctest.h>
#include <xxhash.h>
#include <zstd.h>

using namespace krr::trace;
using krr::test::read_file;
using krr::test::TempDir;

namespace {

uint32_t le32(const std::vector<uint8_t>& b, size_t at) {
    return static_cast<uint32_t>(b[at]) | static_cast<uint32_t>(b[at + 1]) << 8 |
           static_cast<uint32_t>(b[at + 2]) << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}

uint64_t le64(const std::vector<uint8_t>& b, size_t at) {
    return le32(b, at) | static_cast<uint64_t>(le32(b, at + 4)) << 32;
}

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
    }
}

std::vector<uint8_t> payload_of(size_t n, uint8_t seed) {
    std::vector<uint8_t> p(n);
    for (size_t i = 0; i < n; ++i) {
        p[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 5));
    }
    return p;
}

// Three log chunks of different sizes; returns the file bytes and where each
// chunk ends, as the writer reported it.
struct SmallFile {
    std::vector<uint8_t> bytes;
    std::vector<uint64_t> chunk_ends;
    std::vector<std::vector<uint8_t>> payloads;
};

SmallFile write_small_log(const TempDir& dir) {
    SmallFile f;
    ChunkFileWriter w(dir / "log", FileKind::Log);
    for (uint8_t i = 0; i < 3; ++i) {
        f.payloads.push_back(payload_of(10 + 40 * i, i));
        w.append(i == 2 ? ChunkType::RecordEnd : ChunkType::LogRecords, f.payloads.back());
        f.chunk_ends.push_back(w.bytes_written());
    }
    w.close();
    f.bytes = read_file(dir / "log");
    return f;
}

} // namespace

TEST_CASE("chunk file layout matches the documented bytes") {
    TempDir dir;
    const std::vector<uint8_t> payload = payload_of(300, 5);
    {
        ChunkFileWriter w(dir / "f", FileKind::Snapshot);
        w.append(ChunkType::Memory, payload);
        w.close();
    }
    auto b = read_file(dir / "f");
    REQUIRE(b.size() > 20 + 36);
    CHECK(std::string(b.begin(), b.begin() + 8) == "KRRTRACE");
    CHECK(le32(b, 8) == 1);  // format version
    CHECK(le32(b, 12) == 2); // snapshot
    CHECK(le32(b, 16) ==
          static_cast<uint32_t>(XXH3_64bits_withSeed(b.data(), 16, 0x6b72722d68647221ULL)));
    const size_t c = 20;
    CHECK(std::string(b.begin() + c, b.begin() + c + 4) == "CHNK");
    CHECK(le32(b, c + 4) == 16); // memory
    CHECK(le64(b, c + 8) == 0);  // sequence
    const uint32_t stored = le32(b, c + 16);
    CHECK(le32(b, c + 20) == payload.size());
    CHECK(c + 36 + stored == b.size());
    CHECK(le64(b, c + 24) == XXH3_64bits(b.data() + c + 36, stored));
    CHECK(le32(b, c + 32) ==
          static_cast<uint32_t>(XXH3_64bits_withSeed(b.data() + c, 32, 0x6b72722d68647221ULL)));
    std::vector<uint8_t> out(payload.size());
    CHECK(ZSTD_decompress(out.data(), out.size(), b.data() + c + 36, stored) == payload.size());
    CHECK(out == payload);
}

TEST_CASE("chunk file round-trips payloads in order") {
    TempDir dir;
    SmallFile f = write_small_log(dir);
    ChunkFileReader r(dir / "log", FileKind::Log);
    for (size_t i = 0; i < 3; ++i) {
        auto c = r.next();
        REQUIRE(c);
        CHECK(c->sequence == i);
        CHECK(c->payload == f.payloads[i]);
        CHECK(c->offset == (i == 0 ? 20 : f.chunk_ends[i - 1]));
    }
    CHECK_FALSE(r.next());
    CHECK(r.at_end());
    CHECK_FALSE(r.truncated());
    CHECK(r.complete_chunks() == 3);
}

TEST_CASE("a file cut at every byte offset yields exactly the chunks before the cut") {
    TempDir dir;
    SmallFile f = write_small_log(dir);
    for (size_t cut = 0; cut <= f.bytes.size(); ++cut) {
        CAPTURE(cut);
        std::vector<uint8_t> prefix(f.bytes.begin(), f.bytes.begin() + static_cast<long>(cut));
        size_t expected = 0;
        while (expected < f.chunk_ends.size() && f.chunk_ends[expected] <= cut) {
            ++expected;
        }
        size_t got = 0;
        try {
            ChunkFileReader r("cut", prefix, FileKind::Log);
            while (auto c = r.next()) {
                CHECK(c->payload == f.payloads[got]);
                ++got;
            }
            CHECK(got == expected);
            CHECK(r.complete_chunks() == expected);
            const bool at_boundary =
                cut == 20 ||
                std::find(f.chunk_ends.begin(), f.chunk_ends.end(), cut) != f.chunk_ends.end();
            CHECK(r.truncated() == !at_boundary);
        } catch (const krr::Error& e) {
            FAIL("cut at " << cut << " threw " << e.what());
        }
    }
}

TEST_CASE("a bit flip anywhere in a chunk file is reported as corruption") {
    TempDir dir;
    SmallFile f = write_small_log(dir);
    for (size_t at = 0; at < f.bytes.size(); ++at) {
        CAPTURE(at);
        auto damaged = f.bytes;
        damaged[at] ^= static_cast<uint8_t>(1u << (at % 8));
        bool detected = false;
        try {
            ChunkFileReader r("flipped", damaged, FileKind::Log);
            while (r.next()) {
            }
        } catch (const krr::Error&) {
            detected = true;
        }
        CHECK(detected);
    }
}

TEST_CASE("corruption errors name the file, chunk and offset") {
    TempDir dir;
    SmallFile f = write_small_log(dir);
    auto damaged = f.bytes;
    damaged[f.chunk_ends[0] + 40] ^= 0x10; // inside chunk 1's payload
    ChunkFileReader r("my-log", damaged, FileKind::Log);
    CHECK(r.next());
    try {
        r.next();
        FAIL("no error");
    } catch (const krr::Error& e) {
        CHECK(std::string(e.what()) == "my-log: chunk 1 at byte " +
                                           std::to_string(f.chunk_ends[0]) +
                                           ": payload checksum mismatch");
    }
}

TEST_CASE("hostile file headers are refused with a reason") {
    TempDir dir;
    SmallFile f = write_small_log(dir);
    auto expect_error = [](std::vector<uint8_t> bytes, FileKind kind, const std::string& needle) {
        try {
            ChunkFileReader r("x", std::move(bytes), kind);
            while (r.next()) {
            }
            FAIL("accepted; expected: " << needle);
        } catch (const krr::Error& e) {
            CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
        }
    };
    SUBCASE("wrong magic") {
        auto b = f.bytes;
        b[0] = 'X';
        expect_error(b, FileKind::Log, "not a krr trace file");
        expect_error({'E', 'L', 'F'}, FileKind::Log, "not a krr trace file");
    }
    SUBCASE("another format version, with a valid checksum") {
        auto b = f.bytes;
        put32(b, 8, 2);
        put32(b, 16, header_checksum(std::span(b.data(), 16)));
        expect_error(b, FileKind::Log,
                     "trace format version 2 is not supported (this krr reads version 1)");
    }
    SUBCASE("another file kind") {
        expect_error(f.bytes, FileKind::Snapshot, "is a log file, expected a snapshot file");
    }
    SUBCASE("a chunk that belongs to another file kind") {
        TempDir d2;
        ChunkFileWriter w(d2 / "log", FileKind::Log);
        w.append(ChunkType::Memory, payload_of(5, 1));
        w.close();
        expect_error(read_file(d2 / "log"), FileKind::Log, "memory chunk in a log file");
    }
}

TEST_CASE("hostile chunk headers with valid checksums are refused before allocation") {
    TempDir dir;
    SmallFile f = write_small_log(dir);
    // Rewrite chunk 0's header fields and re-seal its checksum, as an
    // attacker who knows the format would.
    auto forge = [&](uint32_t stored, uint32_t uncompressed, uint64_t sequence) {
        ChunkHeader h;
        h.type = static_cast<uint32_t>(ChunkType::LogRecords);
        h.sequence = sequence;
        h.stored_length = stored;
        h.uncompressed_length = uncompressed;
        h.payload_checksum = le64(f.bytes, 20 + 24);
        auto b = f.bytes;
        encode_chunk_header(h, std::span<uint8_t, kChunkHeaderSize>(b.data() + 20, 36));
        return b;
    };
    const uint32_t real_stored = le32(f.bytes, 20 + 16);
    const uint32_t real_size = le32(f.bytes, 20 + 20);
    auto error_of = [](std::vector<uint8_t> b) -> std::string {
        try {
            ChunkFileReader r("x", std::move(b), FileKind::Log);
            while (r.next()) {
            }
        } catch (const krr::Error& e) {
            return e.what();
        }
        return "";
    };
    CHECK(error_of(forge(real_stored, 0xffffffffu, 0)).find("exceeds the limit") !=
          std::string::npos);
    CHECK(error_of(forge(0xfffffff0u, 1000, 0)).find("impossible") != std::string::npos);
    CHECK(error_of(forge(real_stored, real_size, 7)).find("sequence number 7, expected 0") !=
          std::string::npos);
    // The frame declares the true size; a header that disagrees is caught by
    // zstd's declared content size, not by a buffer overrun.
    CHECK(error_of(forge(real_stored, real_size + 1, 0)).find("declares") != std::string::npos);
    CHECK(error_of(forge(real_stored, real_size - 1, 0)).find("declares") != std::string::npos);
    // A huge stored length that passes the bound check is a truncation (the
    // bytes are not there), never a read past the end.
    {
        ChunkFileReader r("x", forge(zstd_bound(kMaxUncompressedChunk), kMaxUncompressedChunk, 0),
                          FileKind::Log);
        CHECK_FALSE(r.next());
        CHECK(r.truncated());
        CHECK(r.complete_chunks() == 0);
    }
}

TEST_CASE("unknown chunk types are skipped with a note") {
    TempDir dir;
    {
        ChunkFileWriter w(dir / "log", FileKind::Log);
        w.append(ChunkType::LogRecords, payload_of(8, 1));
        w.append(static_cast<ChunkType>(999), payload_of(8, 2));
        w.append(ChunkType::RecordEnd, payload_of(8, 3));
        w.close();
    }
    ChunkFileReader r(dir / "log", FileKind::Log);
    auto a = r.next();
    auto b = r.next();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->type == static_cast<uint32_t>(ChunkType::LogRecords));
    CHECK(b->type == static_cast<uint32_t>(ChunkType::RecordEnd));
    CHECK(b->sequence == 2);
    CHECK_FALSE(r.next());
    REQUIRE(r.notes().size() == 1);
    CHECK(r.notes()[0].find("type 999") != std::string::npos);
}

TEST_CASE("a zero-filled tail reads as a truncation, other garbage as corruption") {
    TempDir dir;
    SmallFile f = write_small_log(dir);
    auto zeros = f.bytes;
    zeros.resize(zeros.size() + 100, 0);
    ChunkFileReader r("z", zeros, FileKind::Log);
    int n = 0;
    while (r.next()) {
        ++n;
    }
    CHECK(n == 3);
    CHECK(r.truncated());

    auto garbage = f.bytes;
    garbage.resize(garbage.size() + 100, 0);
    garbage.back() = 1;
    ChunkFileReader g("g", garbage, FileKind::Log);
    CHECK_THROWS_AS(
        [&] {
            while (g.next()) {
            }
        }(),
        krr::Error);
}

TEST_CASE("missing files and directories are errors, not crashes") {
    TempDir dir;
    CHECK_THROWS_AS(ChunkFileReader(dir / "nope", FileKind::Log), krr::Error);
    CHECK_THROWS_WITH_AS(ChunkFileReader(dir.path(), FileKind::Log),
                         doctest::Contains("not a regular file"), krr::Error);
}
