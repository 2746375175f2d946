// Writes a seed corpus for trace_reader_fuzzer into the directory given:
// the sample trace in each input mode, so fuzzing starts from valid traces.
#include "fuzz/trace_fuzz_input.h"
#include "guest-model/trace/log_records.h"
#include "guest-model/trace/snapshot_codec.h"
#include "guest-model/trace/trace_metadata.h"
#include "tests/guest-model/trace/sample_trace.h"
#include "tests/guest-model/trace/temp_dir.h"

#include <cstdio>

using namespace krr::trace;
using krr::fuzz::FuzzChunk;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const std::string out = argv[1];
    int n = 0;
    auto save = [&](const std::vector<uint8_t>& bytes) {
        krr::test::write_file(out + "/seed-" + std::to_string(n++), bytes);
    };

    // A small machine so every seed stays under the 64 KiB a u16 allows.
    TraceMetadata m = krr::test::sample_metadata(2);
    m.memory_size = 16 * 4096;
    m.format_version = kFormatVersion;
    std::vector<uint8_t> page(4096);
    for (size_t i = 0; i < page.size(); ++i) {
        page[i] = static_cast<uint8_t>(i * 7);
    }
    krr::ByteWriter memory;
    encode_memory_run(memory, 2, page);
    encode_memory_run(memory, 9, page);
    krr::ByteWriter records;
    for (const auto& r : krr::test::sample_records(12)) {
        encode_log_record(records, r);
    }
    std::vector<FuzzChunk> chunks = {
        {0, uint32_t(ChunkType::Metadata), encode_metadata(m)},
        {1, uint32_t(ChunkType::Memory), memory.data()},
        {1, uint32_t(ChunkType::CpuState), encode_vcpu_state(krr::test::sample_vcpu(0))},
        {1, uint32_t(ChunkType::CpuState), encode_vcpu_state(krr::test::sample_vcpu(1))},
        {1, uint32_t(ChunkType::DeviceState), encode_device_state({"uart", {1, 2, 3}})},
        {1, uint32_t(ChunkType::SnapshotEnd), encode_snapshot_end({2, 2, 1})},
        {2, uint32_t(ChunkType::LogRecords), records.data()},
        {2, uint32_t(ChunkType::RecordEnd), encode_record_end(krr::test::kSampleEnd)},
    };
    save(krr::fuzz::encode_chunks_input(chunks));

    // The same trace as files, for the raw modes.
    krr::test::TempDir dir;
    {
        TraceWriter w(dir / "t", m, 64);
        std::vector<uint8_t> ram(m.memory_size);
        std::copy(page.begin(), page.end(), ram.begin() + 2 * 4096);
        w.write_memory(ram);
        w.write_vcpu(krr::test::sample_vcpu(0));
        w.write_vcpu(krr::test::sample_vcpu(1));
        w.write_device({"uart", {1, 2, 3}});
        w.finish_snapshot();
        for (const auto& r : krr::test::sample_records(12)) {
            w.append(r);
        }
        w.finish(krr::test::kSampleEnd);
    }
    auto meta = krr::test::read_file(dir / "t/metadata");
    auto snap = krr::test::read_file(dir / "t/snapshot");
    auto log = krr::test::read_file(dir / "t/log");
    save(krr::fuzz::encode_raw_input(krr::fuzz::kRaw, meta, snap, log));
    save(krr::fuzz::encode_raw_input(krr::fuzz::kRawSealed, meta, snap, log));
    std::printf("wrote %d seeds to %s\n", n, out.c_str());
    return 0;
}
