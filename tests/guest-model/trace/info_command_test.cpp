// Runs the real `krr info` (its path comes from the KRR_EXE environment
// variable) on traces written here, and checks what a user sees: the exit
// status, the text and the JSON.
#include "guest-model/trace/chunk_format.h"
#include "guest-model/trace/trace_writer.h"
#include "tests/guest-model/trace/sample_trace.h"
#include "tests/guest-model/trace/temp_dir.h"

#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

using krr::test::read_file;
using krr::test::TempDir;
using krr::test::write_file;

namespace {

struct Run {
    int status = -1;
    std::string out;
    std::string err;
};

Run run_info(const TempDir& scratch, const std::vector<std::string>& args) {
    const char* exe = std::getenv("KRR_EXE");
    REQUIRE_MESSAGE(exe, "KRR_EXE must name the krr executable");
    const std::string out_path = scratch / "stdout";
    const std::string err_path = scratch / "stderr";
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(out, 1);
        ::dup2(err, 2);
        std::vector<char*> argv{const_cast<char*>(exe), const_cast<char*>("info")};
        for (const auto& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        ::execv(exe, argv.data());
        _exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    Run r;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    auto o = read_file(out_path);
    auto e = read_file(err_path);
    r.out.assign(o.begin(), o.end());
    r.err.assign(e.begin(), e.end());
    return r;
}

bool has(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("krr info describes a complete trace and exits 0") {
    TempDir dir;
    krr::test::write_sample_trace(dir / "t", 30, 8);
    Run r = run_info(dir, {dir / "t"});
    CHECK(r.status == 0);
    CHECK(r.err.empty());
    CHECK(has(r.out,
              "format:         version 1, written by krr 0.1.0-test at 2025-11-25 08:36:27 UTC"));
    CHECK(has(r.out, "kernel:         /boot/vmlinuz-test (Linux version 6.1.0-test (\"quoted\"))"));
    CHECK(has(r.out, "command line:   console=ttyS0 nokaslr tsc=unstable"));
    CHECK(has(r.out, "guest command:  /bin/sh -c 'echo '\\''hi there'\\''; exit 3'"));
    CHECK(has(r.out, "memory:         256.0 KiB (262144 bytes)"));
    CHECK(has(r.out, "vCPUs:          1"));
    CHECK(has(r.out, "accelerator:    tcg"));
    CHECK(has(r.out, "snapshot:       5 pages (20.0 KiB), 1 vCPU states, 2 devices (uart, pit)"));
    CHECK(has(r.out, "records:        console 10, input 10, state-hash 10"));
    CHECK(has(r.out, "inputs:         port-read 5, rdtsc 5"));
    CHECK(has(r.out, "instructions:   0 .. 123456"));
    CHECK(has(r.out, "console:        50 bytes"));
    CHECK(has(r.out, "end:            guest exited, exit status 3, after 123456 instructions"));
    CHECK(has(r.out, "index:          absent"));
    CHECK(has(r.out, "status:         complete"));
}

TEST_CASE("krr info --json is valid, escaped JSON with the same facts") {
    TempDir dir;
    krr::test::write_sample_trace(dir / "t", 30, 8);
    Run r = run_info(dir, {dir / "t", "--json"});
    CHECK(r.status == 0);
    CHECK(has(r.out, "\"status\": \"complete\""));
    CHECK(has(r.out, "\"problem\": null"));
    CHECK(has(r.out, "\"version\": \"Linux version 6.1.0-test (\\\"quoted\\\")\""));
    CHECK(has(r.out, "\"echo 'hi there'; exit 3\""));
    CHECK(has(r.out, "\"memory_bytes\": 262144"));
    CHECK(has(r.out, "\"exit_status\": 3"));
    CHECK(has(r.out, "\"input\": 10"));
    CHECK(has(r.out, "\"index\": false"));
    // When python3 is around, let a real JSON parser judge the document.
    if (std::system("python3 -c pass") == 0) {
        write_file(dir / "out.json", std::vector<uint8_t>(r.out.begin(), r.out.end()));
        const std::string cmd = "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                                "sys.exit(0 if d[\"log\"][\"end\"][\"final_instruction_count\"]"
                                "==123456 else 1)' " +
                                (dir / "out.json");
        CHECK(std::system(cmd.c_str()) == 0);
    }
}

TEST_CASE("krr info on a truncated trace prints what it can and exits 3") {
    TempDir dir;
    krr::test::write_sample_trace(dir / "t", 30, 8);
    auto log = read_file(dir / "t/log");
    log.resize(log.size() - 5);
    write_file(dir / "t/log", log);
    Run r = run_info(dir, {dir / "t"});
    CHECK(r.status == 3);
    CHECK(has(r.out, "records:        console 10, input 10, state-hash 10"));
    CHECK(has(r.out, "status:         truncated: log truncated after 4 complete chunks at byte "));
    CHECK(has(r.err, "krr: info: " + (dir / "t") + ": log truncated after 4 complete chunks"));
    Run j = run_info(dir, {dir / "t", "--json"});
    CHECK(j.status == 3);
    CHECK(has(j.out, "\"status\": \"truncated\""));
    CHECK(has(j.out, "\"cut_mid_chunk\": true"));
}

TEST_CASE("krr info on bad input names the trace and exits 1") {
    TempDir dir;
    Run missing = run_info(dir, {dir / "nope"});
    CHECK(missing.status == 1);
    CHECK(missing.err == "krr: info: " + (dir / "nope") + ": No such file or directory\n");

    Run not_trace = run_info(dir, {dir.path()});
    CHECK(not_trace.status == 1);
    CHECK(not_trace.err == "krr: info: " + dir.path() + ": not a trace (no metadata file)\n");

    krr::test::write_sample_trace(dir / "t", 30, 8);
    auto snap = read_file(dir / "t/snapshot");
    snap[100] ^= 4;
    write_file(dir / "t/snapshot", snap);
    Run corrupt = run_info(dir, {dir / "t"});
    CHECK(corrupt.status == 1);
    CHECK(has(corrupt.err, "krr: info: " + (dir / "t") + ": " + (dir / "t") +
                               "/snapshot: chunk 0 at byte 20: payload checksum mismatch"));
    CHECK(has(corrupt.out, "status:         corrupt: "));

    krr::test::write_sample_trace(dir / "v", 3, 8);
    auto meta = read_file(dir / "v/metadata");
    meta[8] = 2; // format version 2, its header checksum resealed as a v2 writer would
    const uint32_t sum = krr::trace::header_checksum(std::span(meta.data(), 16));
    for (int i = 0; i < 4; ++i) {
        meta[16 + static_cast<size_t>(i)] = static_cast<uint8_t>(sum >> (8 * i));
    }
    write_file(dir / "v/metadata", meta);
    Run version = run_info(dir, {dir / "v"});
    CHECK(version.status == 1);
    CHECK(version.err == "krr: info: " + (dir / "v") +
                             "/metadata: trace format version 2 is not supported (this krr reads "
                             "version 1)\n");
}

TEST_CASE("krr info rejects bad usage") {
    TempDir dir;
    CHECK(run_info(dir, {}).status != 0);
    CHECK(run_info(dir, {"a", "b"}).status != 0);
    CHECK(run_info(dir, {"--bogus", "a"}).status != 0);
}
