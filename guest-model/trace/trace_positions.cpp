#include "guest-model/trace/trace_positions.h"

#include "guest-model/byte_codec.h"
#include "guest-model/checksum.h"
#include "guest-model/error.h"
#include "guest-model/trace/trace_files.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace krr::trace {

namespace {

constexpr char kMagic[8] = {'K', 'R', 'R', 'P', 'O', 'S', 'N', '\n'};
constexpr uint64_t kMaxBody = 1ULL << 34;
const char* const kWhat = "trace positions";

uint64_t* count_of(LogRecord& record) {
    if (auto* in = std::get_if<InputRecord>(&record)) {
        return &in->instruction_count;
    }
    if (auto* c = std::get_if<ConsoleRecord>(&record)) {
        return &c->instruction_count;
    }
    if (auto* h = std::get_if<StateHashRecord>(&record)) {
        return &h->instruction_count;
    }
    return &std::get<RecordEnd>(record).final_instruction_count;
}

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Error(path.string(), "cannot be read");
    }
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

} // namespace

std::vector<uint8_t> encode_positions(const ResolvedPositions& positions) {
    ByteWriter body;
    body.u64(positions.log_key);
    body.varint(positions.counts.size());
    uint64_t previous = 0;
    for (uint64_t count : positions.counts) {
        body.varint(count - previous);
        previous = count;
    }
    ByteWriter w;
    w.bytes({reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic});
    w.u32(kPositionsFormatVersion);
    w.u64(body.size());
    w.u64(checksum64(body.data()));
    w.bytes(body.data());
    return w.take();
}

ResolvedPositions decode_positions(std::span<const uint8_t> bytes) {
    ByteReader head(bytes, kWhat);
    auto magic = head.bytes(sizeof kMagic);
    if (std::memcmp(magic.data(), kMagic, sizeof kMagic) != 0) {
        throw Error(kWhat, "not a positions file (bad magic)");
    }
    uint32_t version = head.u32();
    if (version != kPositionsFormatVersion) {
        throw Error(kWhat, "format version " + std::to_string(version) + ", this krr reads " +
                               std::to_string(kPositionsFormatVersion));
    }
    uint64_t size = head.u64();
    uint64_t checksum = head.u64();
    if (size > kMaxBody || size != head.remaining()) {
        throw Error(kWhat, "body of " + std::to_string(size) + " bytes, file holds " +
                               std::to_string(head.remaining()));
    }
    auto body = head.bytes(static_cast<size_t>(size));
    if (checksum64(body) != checksum) {
        throw Error(kWhat, "checksum mismatch");
    }
    ByteReader r(body, kWhat);
    ResolvedPositions positions;
    positions.log_key = r.u64();
    uint64_t n = r.count(1);
    positions.counts.reserve(static_cast<size_t>(n));
    uint64_t count = 0;
    for (uint64_t i = 0; i < n; ++i) {
        uint64_t delta = r.varint();
        if (delta >= kUnresolvedCount - count) {
            r.fail("count " + std::to_string(i) + " is out of range");
        }
        count += delta;
        positions.counts.push_back(count);
    }
    r.expect_end();
    return positions;
}

uint64_t log_key(const std::string& trace_path) {
    std::vector<uint8_t> log = read_file(std::filesystem::path(trace_path) / kLogFileName);
    return checksum64(log);
}

bool is_unresolved(const LogRecord& record) {
    return *count_of(const_cast<LogRecord&>(record)) == kUnresolvedCount;
}

uint64_t unresolved_records(std::span<const LogRecord> records) {
    uint64_t n = 0;
    for (const LogRecord& r : records) {
        n += is_unresolved(r) ? 1 : 0;
    }
    return n;
}

std::optional<ResolvedPositions> read_positions(const std::string& trace_path) {
    std::filesystem::path file = std::filesystem::path(trace_path) / kPositionsFileName;
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
        return std::nullopt;
    }
    std::vector<uint8_t> bytes = read_file(file);
    ResolvedPositions positions;
    try {
        positions = decode_positions(bytes);
    } catch (const Error& e) {
        throw Error(file.string(), e.what());
    }
    if (positions.log_key != log_key(trace_path)) {
        throw Error(file.string(), "it belongs to another log (run krr resolve again)");
    }
    return positions;
}

void write_positions(const std::string& trace_path, const ResolvedPositions& positions) {
    namespace fs = std::filesystem;
    fs::path file = fs::path(trace_path) / kPositionsFileName;
    fs::path temporary = fs::path(trace_path) /
                         (std::string(kPositionsFileName) + ".tmp" + std::to_string(getpid()));
    std::vector<uint8_t> bytes = encode_positions(positions);
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
        out.flush();
        if (!out) {
            std::error_code ignored;
            fs::remove(temporary, ignored);
            throw Error(file.string(), "cannot be written");
        }
    }
    std::error_code ec;
    fs::rename(temporary, file, ec);
    if (ec) {
        fs::remove(temporary, ec);
        throw Error(file.string(), "cannot be written: " + ec.message());
    }
}

void apply_positions(std::vector<LogRecord>& records, const ResolvedPositions& positions) {
    size_t next = 0;
    for (LogRecord& record : records) {
        uint64_t* count = count_of(record);
        if (*count != kUnresolvedCount) {
            continue;
        }
        if (next == positions.counts.size()) {
            throw Error(kWhat, "fewer counts than the log has unresolved records");
        }
        *count = positions.counts[next++];
    }
    if (next != positions.counts.size()) {
        throw Error(kWhat, std::to_string(positions.counts.size()) + " counts for " +
                               std::to_string(next) + " unresolved records");
    }
}

} // namespace krr::trace
