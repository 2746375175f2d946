// libFuzzer target for what a KVM recording adds to the trace formats: the
// positions file (decode_positions) and the state positions inside log
// records and the record end (decode_log_chunk, decode_record_end). Whatever
// the bytes, decoding may only succeed or throw krr::Error, and what it
// accepts must encode to bytes that decode to the same thing.
//
// Byte 0 picks the decoder; the rest is its input:
//   0  a positions file as is;
//   1  a positions body, framed here with a correct header and checksum so
//      mutations reach the body's own checks instead of the checksum;
//   2  a log chunk payload;
//   3  a record-end payload.
//
// ./trace_positions_fuzzer --write-seeds=CORPUS writes seeds of each kind
// (libFuzzer ignores flags starting with "--").
#include "guest-model/byte_codec.h"
#include "guest-model/checksum.h"
#include "guest-model/error.h"
#include "guest-model/trace/log_records.h"
#include "guest-model/trace/trace_positions.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace krr::trace;

enum Mode : uint8_t { kPositionsFile = 0, kPositionsBody = 1, kLogChunk = 2, kRecordEnd = 3 };

std::vector<uint8_t> framed_positions(std::span<const uint8_t> body) {
    krr::ByteWriter w;
    const char magic[8] = {'K', 'R', 'R', 'P', 'O', 'S', 'N', '\n'};
    w.bytes({reinterpret_cast<const uint8_t*>(magic), sizeof magic});
    w.u32(kPositionsFormatVersion);
    w.u64(body.size());
    w.u64(krr::checksum64(body));
    w.bytes(body);
    return w.take();
}

void check_positions(std::span<const uint8_t> file) {
    ResolvedPositions positions = decode_positions(file);
    if (decode_positions(encode_positions(positions)) != positions) {
        std::abort();
    }
}

void check_log_chunk(std::span<const uint8_t> payload) {
    std::map<uint8_t, uint64_t> skipped;
    std::vector<LogRecord> records = decode_log_chunk(payload, skipped);
    krr::ByteWriter again;
    for (const LogRecord& r : records) {
        encode_log_record(again, r);
    }
    std::map<uint8_t, uint64_t> none;
    if (decode_log_chunk(again.data(), none) != records || !none.empty()) {
        std::abort();
    }
}

void check_record_end(std::span<const uint8_t> payload) {
    RecordEnd end = decode_record_end(payload);
    if (decode_record_end(encode_record_end(end)) != end) {
        std::abort();
    }
}

// --- Seeds ---------------------------------------------------------------

StatePosition seed_position(uint64_t n, std::vector<uint64_t> pages) {
    StatePosition p;
    for (size_t i = 0; i < p.gpr.size(); ++i) {
        p.gpr[i] = n * 0x1000 + i;
    }
    p.rflags = 0x246;
    p.memory_hash = n * 0x9e3779b97f4a7c15ULL;
    p.pages = std::move(pages);
    return p;
}

std::vector<uint8_t> with_mode(Mode mode, std::span<const uint8_t> bytes) {
    std::vector<uint8_t> out{mode};
    out.insert(out.end(), bytes.begin(), bytes.end());
    return out;
}

std::vector<std::vector<uint8_t>> seeds() {
    std::vector<std::vector<uint8_t>> out;
    std::vector<ResolvedPositions> files{
        {0, {}}, {7, {5}}, {0xabcdef, {1, 1, 300, 70000, 1ULL << 40, kUnresolvedCount - 1}}};
    for (const auto& p : files) {
        auto file = encode_positions(p);
        out.push_back(with_mode(kPositionsFile, file));
        out.push_back(with_mode(kPositionsBody, std::span(file).subspan(28)));
    }

    krr::ByteWriter chunk;
    auto input = [](InputKind kind, uint64_t rip, std::optional<StatePosition> p) {
        return InputRecord{static_cast<uint8_t>(kind), 0, kUnresolvedCount, rip, 0x20, 0, 1, p};
    };
    encode_log_record(chunk, input(InputKind::Interrupt, 0x1000, seed_position(1, {1, 2, 9})));
    encode_log_record(chunk, input(InputKind::PortRead, 0x1002, std::nullopt));
    encode_log_record(chunk, input(InputKind::Nmi, 0x1004, seed_position(2, {})));
    encode_log_record(chunk, ConsoleRecord{0, kUnresolvedCount, {'o', 'k', '\n'}});
    encode_log_record(chunk, StateHashRecord{0, kUnresolvedCount, 1, 2, {3}, {4, 5}, {}});
    out.push_back(with_mode(kLogChunk, chunk.data()));
    krr::ByteWriter one;
    encode_log_record(one, input(InputKind::Interrupt, 0x2000, seed_position(3, {262143})));
    out.push_back(with_mode(kLogChunk, one.data()));

    for (const RecordEnd& end :
         {RecordEnd{"guest exited", 0, kUnresolvedCount, seed_position(4, {0, 5, 6})},
          RecordEnd{"crash", std::nullopt, kUnresolvedCount, seed_position(5, {})},
          RecordEnd{"guest exited", 3, 12345, std::nullopt}}) {
        out.push_back(with_mode(kRecordEnd, encode_record_end(end)));
    }
    return out;
}

void write_seeds(const std::string& dir) {
    size_t n = 0;
    for (const auto& seed : seeds()) {
        std::string path = dir + "/seed-" + std::to_string(n++);
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(seed.data()), std::streamsize(seed.size()));
        if (!out) {
            std::fprintf(stderr, "cannot write %s\n", path.c_str());
            std::exit(1);
        }
    }
    std::printf("wrote %zu seeds to %s\n", n, dir.c_str());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    const char* const flag = "--write-seeds=";
    for (int i = 1; i < *argc; ++i) {
        if (std::strncmp((*argv)[i], flag, std::strlen(flag)) == 0) {
            write_seeds((*argv)[i] + std::strlen(flag));
            std::exit(0);
        }
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    std::span<const uint8_t> rest(data + 1, size - 1);
    try {
        switch (data[0] % 4) {
        case kPositionsFile:
            check_positions(rest);
            break;
        case kPositionsBody:
            check_positions(framed_positions(rest));
            break;
        case kLogChunk:
            check_log_chunk(rest);
            break;
        default:
            check_record_end(rest);
            break;
        }
    } catch (const krr::Error&) {
    }
    return 0;
}
