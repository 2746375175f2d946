#include "repro/reproduce.h"

#include "guest-model/error.h"
#include "guest-model/trace/trace_positions.h"
#include "guest-model/trace/trace_reader.h"
#include "recorder/guest_run.h"
#include "replay-engine/replay/position_resolver.h"
#include "replay-engine/replay/replay_session.h"
#include "repro/report_title.h"

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace krr {

namespace fs = std::filesystem;

namespace {

// Runs argv with stdout and stderr into `log` and `env` added to the
// environment; throws with the log's tail when it fails.
void run_program(const std::vector<std::string>& argv, const std::string& log,
                 const std::string& what,
                 const std::vector<std::pair<std::string, std::string>>& env = {}) {
    pid_t pid = fork();
    if (pid < 0) {
        throw Error(what, "fork: " + errno_text(errno));
    }
    if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        for (const auto& [name, value] : env) {
            setenv(name.c_str(), value.c_str(), 1);
        }
        std::vector<char*> args;
        for (const std::string& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            throw Error(what, "waitpid: " + errno_text(errno));
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return;
    }
    std::ifstream in(log);
    std::ostringstream text;
    text << in.rdbuf();
    std::string tail = text.str();
    if (tail.size() > 2000) {
        tail = "..." + tail.substr(tail.size() - 2000);
    }
    throw Error(what, argv[0] + std::string(" failed (") +
                          (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                             : std::string("killed")) +
                          "; log " + log + "):\n" + tail);
}

// kmod/ of the source tree the sample belongs to (samples/bugs/NAME).
std::string kmod_dir_for(const BugSample& sample) {
    fs::path kmod = fs::path(sample.dir).parent_path().parent_path().parent_path() / "kmod";
    std::error_code ec;
    if (!fs::is_regular_file(kmod / "build-kmod", ec)) {
        throw Error("repro: " + sample.name, "needs module '" + sample.module +
                                                 "' but there is no " +
                                                 (kmod / "build-kmod").string() +
                                                 " (a sample lives in samples/bugs/ of a "
                                                 "krr source tree)");
    }
    return kmod.string();
}

void move_directory(const fs::path& from, const fs::path& to) {
    std::error_code ec;
    fs::rename(from, to, ec);
    if (!ec) {
        return;
    }
    // Another file system: copy, then remove.
    fs::copy(from, to, fs::copy_options::recursive);
    fs::remove_all(from);
}

// The recorded console of a trace, cut into lines at their recorded counts
// (a recording made under KVM is resolved first: its log has none).
std::vector<ConsoleLine> recorded_console(const std::string& trace_path) {
    trace::TraceReader reader(trace_path);
    trace::LogReader log = reader.log();
    std::vector<trace::LogRecord> records;
    while (auto record = log.next()) {
        records.push_back(std::move(*record));
    }
    if (trace::unresolved_records(records) > 0) {
        if (needs_resolving(trace_path)) {
            resolve_positions(trace_path);
        }
        trace::apply_positions(records, *trace::read_positions(trace_path));
    }
    ConsoleLines lines;
    for (const auto& record : records) {
        if (const auto* c = std::get_if<trace::ConsoleRecord>(&record)) {
            for (uint8_t b : c->bytes) {
                lines.add(b, c->instruction_count);
            }
        }
    }
    return lines.lines();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

ReproResult reproduce(const BugSample& sample, const ReproOptions& options) {
    if (options.accel != "tcg" && options.accel != "kvm") {
        throw Error("--accel", "'" + options.accel + "' is not an accelerator (tcg or kvm)");
    }
    std::error_code ec;
    if (fs::exists(options.trace_path, ec)) {
        throw Error("repro: " + options.trace_path, "already exists; choose a new trace path");
    }
    // A private scratch directory, so that runs of one sample side by side
    // (tests of several build directories) do not meet.
    fs::create_directories(options.scratch_parent, ec);
    std::string scratch_template = (fs::path(options.scratch_parent) / (sample.name + ".XXXXXX"));
    if (ec || !mkdtemp(scratch_template.data())) {
        throw Error("repro: " + options.scratch_parent,
                    ec ? ec.message() : "cannot make a scratch directory: " + errno_text(errno));
    }
    const fs::path work = scratch_template;
    struct RemoveScratch {
        fs::path path;
        ~RemoveScratch() {
            std::error_code ignored;
            fs::remove_all(path, ignored);
        }
    } remove_scratch{work};
    auto note = [&](const std::string& s) {
        if (options.note) {
            options.note(s);
        }
    };

    ReproResult result;
    GuestRunOptions run;
    if (!sample.module.empty()) {
        const std::string kmod = kmod_dir_for(sample);
        std::vector<std::pair<std::string, std::string>> env;
        if (!options.kernel.vmlinuz.empty()) {
            if (options.kernel.module_build.empty()) {
                throw Error("repro: " + sample.name, "needs module '" + sample.module +
                                                         "' but there is no kernel build "
                                                         "tree (build/) beside " +
                                                         options.kernel.vmlinuz +
                                                         " to build it against");
            }
            env.emplace_back("KRR_KERNEL_BUILD", options.kernel.module_build);
        }
        note("building kmod/ (" + sample.module + ")" +
             (env.empty() ? std::string() : " against " + options.kernel.module_build));
        const fs::path out = work / "kmod";
        run_program({kmod + "/build-kmod", out.string()}, (work / "build-kmod.log").string(),
                    "repro: building kmod/", env);
        result.module_path = (out / (sample.module + ".ko")).string();
        if (!fs::is_regular_file(result.module_path, ec)) {
            throw Error("repro: " + sample.name, "kmod/build-kmod built no " + sample.module +
                                                     ".ko (is the module name in bug.conf right?)");
        }
        run.image.modules = {result.module_path};
    }
    const std::string repro_binary = (work / "repro").string();
    note("building the reproducer");
    run_program({"gcc", "-static", "-O2", "-pthread", "-o", repro_binary, sample.dir + "/repro.c"},
                (work / "gcc.log").string(), "repro: building repro.c");
    run.image.file_specs = {repro_binary + ":/repro"};
    run.image.command = {"/repro"};
    run.append = sample.cmdline;
    if (!options.kernel.cmdline.empty()) {
        run.append = options.kernel.cmdline + (run.append.empty() ? "" : " " + run.append);
    }
    if (!options.kernel.vmlinuz.empty()) {
        run.image.kernel = options.kernel.vmlinuz;
    }
    run.accel = options.accel;
    run.vcpus = options.vcpus;
    run.timeout_seconds = options.attempt_timeout;

    const unsigned attempts = options.attempts ? options.attempts : sample.attempts;
    const fs::path attempt_trace = work / "attempt";
    for (unsigned i = 0; i < attempts; ++i) {
        fs::remove_all(attempt_trace, ec);
        run.record_path = attempt_trace.string();
        // Under KVM the host's timing varies each attempt by itself; the
        // emulator's attempts vary by the interrupt jitter's seed.
        if (options.accel == "tcg") {
            run.interrupt_jitter_seed = options.seed + i;
        }
        ConsoleLines console;
        auto start = std::chrono::steady_clock::now();
        GuestRunResult r = run_guest(
            run, [&](uint8_t byte) { console.add(byte, 0); }, nullptr);
        const double seconds = seconds_since(start);
        const auto lines = console.lines();
        const bool crashed = find_line(lines, [&](const std::string& l) {
                                 return sample.is_crash_line(l);
                             }).has_value();
        const std::string how = options.accel == "kvm" ? std::string("under KVM")
                                                       : "seed " + std::to_string(options.seed + i);
        note("attempt " + std::to_string(i + 1) + " of " + std::to_string(attempts) + " (" + how +
             "): " + ending_name(r.ending) + (crashed ? ", crashed" : ", no crash") +
             (options.accel == "kvm"
                  ? std::string()
                  : " after " + std::to_string(r.instructions) + " instructions") +
             ", " + std::to_string(static_cast<int>(seconds + 0.5)) + " s");
        if (!crashed) {
            continue;
        }
        if (!r.recorded) {
            throw Error("repro: " + sample.name,
                        "the crash came before the reproducer started, so it was not recorded");
        }
        result.reproduced = true;
        result.attempts_used = i + 1;
        result.seed = options.seed + i;
        result.record_seconds = seconds;
        result.recorded_instructions = r.recorded_instructions;
        break;
    }
    if (!result.reproduced) {
        fs::remove_all(attempt_trace, ec);
        result.attempts_used = attempts;
        return result;
    }
    fs::create_directories(fs::absolute(options.trace_path).parent_path(), ec);
    move_directory(attempt_trace, options.trace_path);
    result.trace_path = fs::absolute(options.trace_path).string();
    if (!result.module_path.empty()) {
        // Kept with the trace (the format ignores other files), for the
        // module's symbols in gdb.
        const fs::path kept = fs::path(result.trace_path) / (sample.module + ".ko");
        fs::copy_file(result.module_path, kept, ec);
        result.module_path = ec ? std::string() : kept.string();
    }

    // Where the recording printed the crash line.
    const auto recorded = recorded_console(result.trace_path);
    auto recorded_at =
        find_line(recorded, [&](const std::string& l) { return sample.is_crash_line(l); });
    if (!recorded_at) {
        throw Error("repro: " + result.trace_path,
                    "the crash line is on the console but not in the recorded part of it");
    }
    result.crash_instruction = recorded[*recorded_at].position;
    result.report = crash_report(recorded, *recorded_at);
    result.report_title = report_title(recorded, *recorded_at);

    // Replay with verification; note where the replay prints the crash line.
    note("replaying " + result.trace_path + " with verification");
    ConsoleLines replayed;
    ReplaySession* session_ptr = nullptr;
    ReplaySessionOptions replay_options;
    replay_options.verify = true;
    replay_options.console = [&](uint8_t byte) {
        replayed.add(byte, session_ptr ? session_ptr->position() : 0);
    };
    auto start = std::chrono::steady_clock::now();
    ReplaySession session(result.trace_path, replay_options);
    session_ptr = &session;
    if (!session.run_to_end()) {
        throw Error("repro: replay of " + result.trace_path, session.divergence());
    }
    result.replay_seconds = seconds_since(start);
    if (std::string diff = session.console_difference(); !diff.empty()) {
        throw Error("repro: replay of " + result.trace_path, diff);
    }
    const auto replay_lines = replayed.lines();
    auto replayed_at =
        find_line(replay_lines, [&](const std::string& l) { return sample.is_crash_line(l); });
    if (!replayed_at) {
        throw Error("repro: replay of " + result.trace_path,
                    "the replayed console does not show the crash");
    }
    if (replay_lines[*replayed_at].position != result.crash_instruction) {
        throw Error("repro: replay of " + result.trace_path,
                    "the crash line was printed at instruction " +
                        std::to_string(replay_lines[*replayed_at].position) +
                        " in the replay but at " + std::to_string(result.crash_instruction) +
                        " in the recording");
    }
    return result;
}

} // namespace krr
