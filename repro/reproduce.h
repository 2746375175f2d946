// krr repro's workflow as a library: build what a bug sample needs (its
// kmod/ module with kmod/build-kmod, its reproducer with gcc -static), record
// runs of it until the crash line appears on the console (each attempt with
// its own interrupt-jitter seed, so racy samples see different
// interleavings), keep the crashing trace, replay it with verification and
// confirm the replay prints the same crash line at the same instruction
// count.
#pragma once

#include "repro/bug_sample.h"
#include "repro/console_lines.h"
#include "repro/repro_kernel.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace krr {

struct ReproOptions {
    std::string accel = "tcg";
    unsigned vcpus = 1; // --smp: each attempt's seed also varies the vCPUs' turns
    // The kernel to boot and build kmod/ against; an empty vmlinuz is the
    // default kernel. The sample passed to reproduce() should be the one
    // for this kernel's kind (BugSample::for_kind).
    ReproKernel kernel;
    unsigned attempts = 0;  // 0: the sample's own number
    uint64_t seed = 1;      // attempt i (from 0) records with seed + i
    std::string trace_path; // where the crashing trace goes; must not exist
    // Where a private scratch directory (builds, attempt traces) is made;
    // it is removed at the end.
    std::string scratch_parent;
    double attempt_timeout = 0; // wall-clock seconds per attempt; 0: none
    // Progress messages ("attempt 2 of 10: ...").
    std::function<void(const std::string&)> note;
};

struct ReproResult {
    bool reproduced = false;
    unsigned attempts_used = 0;
    uint64_t seed = 0; // of the crashing attempt
    std::string trace_path;
    std::vector<std::string> report; // crash line, RIP, call trace
    // The report's title as syzbot would name it (report_title.h), when
    // its kind is known.
    std::optional<std::string> report_title;
    uint64_t crash_instruction = 0; // where the crash line was printed (both runs)
    uint64_t recorded_instructions = 0;
    double record_seconds = 0; // the crashing attempt
    double replay_seconds = 0;
    std::string module_path; // the built .ko, kept in the trace directory
};

// Throws krr::Error when something cannot be built or run, when the replay
// diverges, or when the replay does not show the same crash at the same
// instruction count. A crash that never came is a result with
// reproduced == false.
ReproResult reproduce(const BugSample& sample, const ReproOptions& options);

} // namespace krr
