#include "guest-model/checksum.h"
#include "guest-model/error.h"
#include "guest-model/guest_memory.h"
#include "guest-model/trace/chunk_format.h"
#include "guest-model/trace/trace_reader.h"
#include "guest-model/trace/trace_summary.h"
#include "guest-model/trace/trace_writer.h"
#include "tests/guest-model/trace/sample_trace.h"
#include "tests/guest-model/trace/temp_dir.h"

#include <csignal>
#include <doctest/doctest.h>
#include <filesystem>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace krr::trace;
using krr::test::read_file;
using krr::test::TempDir;
using krr::test::write_file;

namespace {

std::vector<LogRecord> read_all_records(const TraceReader& t, FileEnd* end = nullptr) {
    LogReader log = t.log();
    std::vector<LogRecord> out;
    while (auto r = log.next()) {
        out.push_back(*r);
    }
    if (end) {
        *end = log.end();
    }
    return out;
}

// Reads every byte of a trace the way replay and info would.
void read_everything(const std::string& path) {
    TraceReader t(path);
    SnapshotReader s = t.snapshot();
    while (s.next()) {
    }
    read_all_records(t);
}

} // namespace

TEST_CASE("a trace round-trips metadata, snapshot and log") {
    TempDir dir;
    const std::string path = dir / "t";
    krr::test::write_sample_trace(path, 50, 7);

    TraceReader t(path);
    auto expected_meta = krr::test::sample_metadata();
    expected_meta.format_version = 1;
    CHECK(t.metadata() == expected_meta);
    CHECK(t.has_log());
    CHECK_FALSE(t.has_index());

    krr::GuestMemory mem(expected_meta.memory_size);
    LoadedSnapshot snap = t.load_snapshot(mem);
    auto ram = krr::test::sample_ram();
    CHECK(std::equal(ram.begin(), ram.end(), mem.base()));
    REQUIRE(snap.vcpus.size() == 1);
    CHECK(snap.vcpus[0] == krr::test::sample_vcpu(0));
    REQUIRE(snap.devices.size() == 2);
    CHECK(snap.devices[0] == DeviceState{"uart", {1, 2, 3}});
    CHECK(snap.devices[1] == DeviceState{"pit", {}});

    FileEnd end;
    auto records = read_all_records(t, &end);
    auto expected = krr::test::sample_records(50);
    expected.emplace_back(krr::test::kSampleEnd);
    CHECK(records == expected);
    CHECK(end == FileEnd::Complete);
}

TEST_CASE("the snapshot stores only non-zero pages, in runs") {
    TempDir dir;
    krr::test::write_sample_trace(dir / "t", 1, 1);
    TraceReader t(dir / "t");
    SnapshotReader s = t.snapshot();
    std::vector<std::pair<uint64_t, uint64_t>> runs;
    while (auto item = s.next()) {
        if (auto* run = std::get_if<MemoryRun>(&*item)) {
            runs.emplace_back(run->first_page, run->page_count());
        }
    }
    CHECK(runs == std::vector<std::pair<uint64_t, uint64_t>>{{1, 3}, {10, 1}, {63, 1}});
    CHECK(s.end() == FileEnd::Complete);
}

TEST_CASE("big memory is split into chunks near 1 MiB") {
    TempDir dir;
    auto meta = krr::test::sample_metadata();
    meta.memory_size = 4 << 20;
    std::vector<uint8_t> ram(meta.memory_size);
    for (size_t i = 0; i < ram.size(); i += 64) {
        ram[i] = static_cast<uint8_t>(i >> 12 | 1);
    }
    {
        TraceWriter w(dir / "t", meta);
        w.write_memory(ram);
        w.write_vcpu(krr::test::sample_vcpu(0));
        w.finish_snapshot();
        w.finish({"done", 0, 0, {}});
    }
    TraceReader t(dir / "t");
    krr::GuestMemory mem(meta.memory_size);
    t.load_snapshot(mem);
    CHECK(std::equal(ram.begin(), ram.end(), mem.base()));
    SnapshotReader s = t.snapshot();
    while (s.next()) {
    }
    auto p = s.progress();
    CHECK(p.chunks >= 5); // 4 MiB of pages + vCPU + end
    CHECK(p.chunks <= 7);
    CHECK(p.uncompressed_bytes > meta.memory_size);
}

TEST_CASE("the writer refuses misuse") {
    TempDir dir;
    krr::test::write_sample_trace(dir / "t", 1, 1);
    // An existing directory is never overwritten.
    CHECK_THROWS_WITH_AS(TraceWriter(dir / "t", krr::test::sample_metadata()),
                         doctest::Contains("File exists"), krr::Error);
    TraceWriter w(dir / "u", krr::test::sample_metadata());
    CHECK_THROWS_AS(w.append(ConsoleRecord{}), krr::Error);               // snapshot not finished
    CHECK_THROWS_AS(w.finish_snapshot(), krr::Error);                     // no vCPU yet
    CHECK_THROWS_AS(w.write_vcpu(krr::test::sample_vcpu(1)), krr::Error); // no such vCPU
    w.write_vcpu(krr::test::sample_vcpu(0));
    CHECK_THROWS_AS(w.write_vcpu(krr::test::sample_vcpu(0)), krr::Error); // twice
    std::vector<uint8_t> too_big(65 * 4096);
    CHECK_THROWS_AS(w.write_memory(too_big), krr::Error);
    w.finish_snapshot();
    CHECK_THROWS_AS(w.write_vcpu(krr::test::sample_vcpu(0)), krr::Error);
}

TEST_CASE("a log cut at every byte offset yields exactly the records of complete chunks") {
    TempDir dir;
    const std::string path = dir / "t";
    std::vector<uint64_t> chunk_ends;
    std::vector<size_t> records_at;
    krr::test::write_sample_trace(path, 12, 4, &chunk_ends, &records_at);
    auto expected = krr::test::sample_records(12);
    expected.emplace_back(krr::test::kSampleEnd);
    const auto log = read_file(path + "/log");
    REQUIRE(chunk_ends.back() == log.size());
    REQUIRE(chunk_ends.size() == 4);

    for (size_t cut = 0; cut <= log.size(); ++cut) {
        CAPTURE(cut);
        write_file(path + "/log",
                   std::vector<uint8_t>(log.begin(), log.begin() + static_cast<long>(cut)));
        size_t want = 0;
        for (size_t k = 0; k < chunk_ends.size(); ++k) {
            if (chunk_ends[k] <= cut) {
                want = records_at[k];
            }
        }
        try {
            TraceReader t(path);
            LogReader r = t.log();
            std::vector<LogRecord> got;
            while (auto rec = r.next()) {
                got.push_back(*rec);
            }
            REQUIRE(got.size() == want);
            CHECK(std::equal(got.begin(), got.end(), expected.begin()));
            CHECK((r.end() == FileEnd::Complete) == (cut == log.size()));

            TraceSummary s = summarize_trace(path);
            CHECK(s.health() ==
                  (cut == log.size() ? TraceHealth::Complete : TraceHealth::Truncated));
            if (cut != log.size()) {
                CHECK(s.problem().find("log truncated after") == 0);
            }
        } catch (const krr::Error& e) {
            FAIL("cut at " << cut << " threw " << e.what());
        }
    }
}

TEST_CASE("a bit flip in any byte of any trace file is detected") {
    TempDir dir;
    const std::string clean = dir / "clean";
    krr::test::write_sample_trace(clean, 9, 3);
    const std::string path = dir / "t";
    krr::test::copy_dir(clean, path);
    for (const char* name : {"metadata", "snapshot", "log"}) {
        const auto original = read_file(clean + "/" + name);
        size_t undetected = 0;
        for (size_t at = 0; at < original.size(); ++at) {
            auto damaged = original;
            damaged[at] ^= static_cast<uint8_t>(1u << (at % 8));
            write_file(path + "/" + name, damaged);
            bool detected = false;
            try {
                read_everything(path);
            } catch (const krr::Error&) {
                detected = true;
            }
            if (!detected) {
                ++undetected;
                MESSAGE("undetected flip in " << name << " at byte " << at);
            }
            if (std::string(name) != "metadata") {
                // Past the metadata, the summary reports damage instead of throwing.
                CHECK(summarize_trace(path).health() == TraceHealth::Corrupt);
            }
        }
        CHECK_MESSAGE(undetected == 0, name);
        write_file(path + "/" + name, original);
    }
    read_everything(path); // the restored copy is whole again
}

TEST_CASE("opening something that is not a trace gives a clear error") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(TraceReader(dir / "missing"), doctest::Contains("No such file"),
                         krr::Error);
    write_file(dir / "file", {1, 2, 3});
    CHECK_THROWS_WITH_AS(TraceReader(dir / "file"), doctest::Contains("a trace is a directory"),
                         krr::Error);
    CHECK_THROWS_WITH_AS(TraceReader(dir.path()), doctest::Contains("no metadata file"),
                         krr::Error);
    CHECK_THROWS_WITH_AS(summarize_trace(dir.path()), doctest::Contains("no metadata file"),
                         krr::Error);
}

TEST_CASE("the summary counts what the trace holds") {
    TempDir dir;
    krr::test::write_sample_trace(dir / "t", 30, 8);
    TraceSummary s = summarize_trace(dir / "t");
    CHECK(s.health() == TraceHealth::Complete);
    CHECK(s.problem().empty());
    CHECK(s.snapshot.pages == 5);
    CHECK(s.snapshot.vcpus == 1);
    CHECK(s.snapshot.devices == std::vector<std::string>{"uart", "pit"});
    CHECK(s.log.records_by_kind ==
          std::map<std::string, uint64_t>{{"console", 10}, {"input", 10}, {"state-hash", 10}});
    // Inputs 0, 3, ..., 27 have kinds 1 + i % 6: 1,4,1,4,... and 1+... checked by hand.
    CHECK(s.log.inputs_by_kind == std::map<std::string, uint64_t>{{"port-read", 5}, {"rdtsc", 5}});
    CHECK(s.log.console_bytes == 50);
    CHECK(s.log.first_instruction == 0);
    CHECK(s.log.last_instruction == 123456);
    REQUIRE(s.log.end);
    CHECK(*s.log.end == krr::test::kSampleEnd);
    CHECK(s.log.progress.chunks == 5); // 4 record chunks + the end
}

TEST_CASE("a trace whose recorder stopped in the snapshot reads as truncated") {
    TempDir dir;
    {
        TraceWriter w(dir / "t", krr::test::sample_metadata());
        w.write_memory(krr::test::sample_ram());
    }
    TraceSummary s = summarize_trace(dir / "t");
    CHECK(s.health() == TraceHealth::Truncated);
    CHECK(s.problem().find("snapshot truncated after 1 complete chunks") == 0);
    TraceReader t(dir / "t");
    krr::GuestMemory mem(t.metadata().memory_size);
    CHECK_THROWS_WITH_AS(t.load_snapshot(mem), doctest::Contains("incomplete"), krr::Error);
}

TEST_CASE("a writer killed while logging leaves a readable prefix") {
    TempDir dir;
    const std::string path = dir / "t";
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The child only writes; it never returns into the test framework.
        try {
            TraceWriter w(path, krr::test::sample_metadata(), 512);
            w.write_memory(krr::test::sample_ram());
            w.write_vcpu(krr::test::sample_vcpu(0));
            w.finish_snapshot();
            for (uint64_t i = 0;; ++i) {
                w.append(InputRecord{1, 0, i, i, 0x60, 1, i * 3, {}});
            }
        } catch (...) {
        }
        _exit(1);
    }
    // Let it write a good number of chunks, then kill it mid-stream.
    for (int i = 0; i < 2000; ++i) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(path + "/log", ec);
        if (!ec && size > 200000) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));

    TraceReader t(path);
    LogReader log = t.log();
    uint64_t n = 0;
    while (auto r = log.next()) {
        auto* in = std::get_if<InputRecord>(&*r);
        REQUIRE(in);
        REQUIRE(*in == InputRecord{1, 0, n, n, 0x60, 1, n * 3, {}});
        ++n;
    }
    CHECK(log.end() == FileEnd::Truncated);
    CHECK(n > 1000);
    TraceSummary s = summarize_trace(path);
    CHECK(s.health() == TraceHealth::Truncated);
    CHECK(s.log.records_by_kind["input"] == n);
}

TEST_CASE("anything after the closing chunk of a file is corruption") {
    TempDir dir;
    krr::test::write_sample_trace(dir / "t", 6, 3);
    for (const char* name : {"snapshot", "log"}) {
        CAPTURE(name);
        const std::string file = (dir / "t") + "/" + name;
        const auto original = read_file(file);
        for (const auto& tail : {std::vector<uint8_t>(40, 0), std::vector<uint8_t>{'x'}}) {
            auto longer = original;
            longer.insert(longer.end(), tail.begin(), tail.end());
            write_file(file, longer);
            CHECK_THROWS_AS(read_everything(dir / "t"), krr::Error);
            CHECK(summarize_trace(dir / "t").health() == TraceHealth::Corrupt);
        }
        write_file(file, original);
    }
    read_everything(dir / "t");
}

namespace {

// Recomputes every checksum that can be located, as a hostile writer would,
// so damage reaches the payload decoders instead of stopping at a checksum.
void reseal(std::vector<uint8_t>& f) {
    auto put = [&](size_t at, uint64_t v, int n) {
        for (int i = 0; i < n; ++i) {
            f[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
        }
    };
    if (f.size() < kFileHeaderSize) {
        return;
    }
    put(16, header_checksum(std::span(f.data(), 16)), 4);
    size_t at = kFileHeaderSize;
    while (f.size() - at >= kChunkHeaderSize) {
        uint32_t stored = 0;
        for (int i = 0; i < 4; ++i) {
            stored |= static_cast<uint32_t>(f[at + 16 + static_cast<size_t>(i)]) << (8 * i);
        }
        if (f.size() - at - kChunkHeaderSize < stored) {
            return;
        }
        put(at + 24, krr::checksum64(std::span(f.data() + at + kChunkHeaderSize, stored)), 8);
        put(at + 32, header_checksum(std::span(f.data() + at, 32)), 4);
        at += kChunkHeaderSize + stored;
    }
}

} // namespace

TEST_CASE("random damage, checksums resealed or not, only ever ends in krr::Error") {
    TempDir dir;
    const std::string clean = dir / "clean";
    krr::test::write_sample_trace(clean, 20, 6);
    const std::string path = dir / "t";
    krr::test::copy_dir(clean, path);
    std::mt19937_64 rng(20261125);
    size_t refused = 0;
    size_t runs = 0;
    for (const char* name : {"metadata", "snapshot", "log"}) {
        const auto original = read_file(clean + "/" + name);
        for (int i = 0; i < 400; ++i, ++runs) {
            auto f = original;
            const int edits = 1 + static_cast<int>(rng() % 4);
            for (int e = 0; e < edits && !f.empty(); ++e) {
                const size_t at = rng() % f.size();
                switch (rng() % 4) {
                case 0:
                    f[at] = static_cast<uint8_t>(rng());
                    break;
                case 1:
                    f.resize(at);
                    break;
                case 2:
                    f.insert(f.begin() + static_cast<long>(at), static_cast<uint8_t>(rng()));
                    break;
                default:
                    f[at] ^= 0x80;
                    break;
                }
            }
            if (rng() % 2) {
                reseal(f);
            }
            write_file(path + "/" + name, f);
            try {
                read_everything(path);
                summarize_trace(path);
            } catch (const krr::Error&) {
                ++refused;
            } catch (const std::exception& e) {
                FAIL("a " << name << " edit escaped as a non-krr exception: " << e.what());
            }
        }
        write_file(path + "/" + name, original);
    }
    // Nearly every edit is refused; the few accepted ones were truncations.
    CHECK(refused > runs / 2);
}
