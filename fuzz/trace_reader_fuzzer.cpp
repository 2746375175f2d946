// libFuzzer target for the trace reader: whatever the input, reading the
// trace it describes may only end normally or with krr::Error. Any other
// exception, crash, leak, hang or sanitizer report is a bug.
#include "fuzz/trace_fuzz_input.h"
#include "guest-model/checksum.h"
#include "guest-model/error.h"
#include "guest-model/guest_memory.h"
#include "guest-model/trace/chunk_file_writer.h"
#include "guest-model/trace/chunk_format.h"
#include "guest-model/trace/trace_reader.h"
#include "guest-model/trace/trace_summary.h"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace krr::trace;

const char* const kFileNames[3] = {"metadata", "snapshot", "log"};

// A directory name of this process's own; the directory exists only while
// one input is being read, so nothing is left behind between runs.
std::string trace_dir() {
    static const std::string& dir = *new std::string([] {
        std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        std::string pattern = base + "/krr-fuzz-XXXXXX";
        if (!mkdtemp(pattern.data())) {
            std::perror("mkdtemp");
            std::abort();
        }
        return pattern;
    }());
    return dir;
}

std::string file_path(int i) {
    return trace_dir() + "/" + kFileNames[i];
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        std::abort();
    }
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n <= 0) {
            std::abort();
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
    ::close(fd);
}

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
    }
}

void put64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
    put32(b, at, static_cast<uint32_t>(v));
    put32(b, at + 4, static_cast<uint32_t>(v >> 32));
}

uint32_t get32(const std::vector<uint8_t>& b, size_t at) {
    return static_cast<uint32_t>(b[at]) | static_cast<uint32_t>(b[at + 1]) << 8 |
           static_cast<uint32_t>(b[at + 2]) << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}

// Recomputes the checksums a hostile writer would get right.
void seal(std::vector<uint8_t>& f) {
    if (f.size() < kFileHeaderSize) {
        return;
    }
    put32(f, 16, header_checksum(std::span(f.data(), 16)));
    size_t at = kFileHeaderSize;
    while (f.size() - at >= kChunkHeaderSize) {
        const uint32_t stored = get32(f, at + 16);
        if (f.size() - at - kChunkHeaderSize < stored) {
            break;
        }
        put64(f, at + 24, krr::checksum64(std::span(f.data() + at + kChunkHeaderSize, stored)));
        put32(f, at + 32, header_checksum(std::span(f.data() + at, 32)));
        at += kChunkHeaderSize + stored;
    }
}

void build_raw(krr::ByteReader& r, bool sealed) {
    std::vector<uint8_t> files[3];
    for (int i = 0; i < 2; ++i) {
        const size_t n = std::min<size_t>(r.u16(), r.remaining());
        auto s = r.bytes(n);
        files[i].assign(s.begin(), s.end());
    }
    auto rest = r.bytes(r.remaining());
    files[2].assign(rest.begin(), rest.end());
    for (int i = 0; i < 3; ++i) {
        if (sealed) {
            seal(files[i]);
        }
        write_file(file_path(i), files[i].data(), files[i].size());
    }
}

void build_chunks(krr::ByteReader& r) {
    ChunkFileWriter* writers[3] = {};
    ChunkFileWriter metadata(file_path(0), FileKind::Metadata);
    ChunkFileWriter snapshot(file_path(1), FileKind::Snapshot);
    ChunkFileWriter log(file_path(2), FileKind::Log);
    writers[0] = &metadata;
    writers[1] = &snapshot;
    writers[2] = &log;
    while (r.remaining() >= 7) {
        const uint8_t file = r.u8() % 3;
        const uint32_t type = r.u32();
        const size_t n = std::min<size_t>(r.u16(), r.remaining());
        auto payload = r.bytes(n);
        // The writer's own checks (a chunk type in the wrong file is the
        // reader's to catch) are not under test here.
        writers[file]->append(static_cast<ChunkType>(type), payload);
    }
}

void read_trace() {
    TraceSummary s = summarize_trace(trace_dir());
    // Loading memory is part of the reader too; keep the guest small enough
    // for the fuzzer's memory limit.
    if (s.health() == TraceHealth::Complete && s.metadata.memory_size <= (16u << 20)) {
        TraceReader t(trace_dir());
        krr::GuestMemory memory(t.metadata().memory_size);
        t.load_snapshot(memory);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    ::mkdir(trace_dir().c_str(), 0755);
    krr::ByteReader r(std::span(data + 1, size - 1), "fuzz input");
    try {
        switch (data[0] % 3) {
        case krr::fuzz::kRaw:
            build_raw(r, false);
            break;
        case krr::fuzz::kRawSealed:
            build_raw(r, true);
            break;
        default:
            build_chunks(r);
            break;
        }
    } catch (const krr::Error&) {
        // Input too short to describe a trace; still read what was written.
    }
    try {
        read_trace();
    } catch (const krr::Error&) {
        // The one way the reader may refuse input.
    }
    for (int i = 0; i < 3; ++i) {
        ::unlink(file_path(i).c_str());
    }
    ::rmdir(trace_dir().c_str());
    return 0;
}
