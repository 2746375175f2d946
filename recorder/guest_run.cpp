#include "recorder/guest_run.h"

#include "guest-model/checksum.h"
#include "guest-model/error.h"
#include "guest-model/kernel_image.h"
#include "guest-model/symbols.h"
#include "recorder/accel/emulator_accelerator.h"
#include "recorder/accel/kvm_accelerator.h"
#include "recorder/accel/tsc_read_sites.h"
#include "recorder/guest-image/guest_locator.h"
#include "recorder/machine/guest_layout.h"
#include "recorder/machine/linux_loader.h"
#include "recorder/machine/machine.h"
#include "recorder/trace_recorder.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <poll.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace krr {

namespace {

std::vector<uint8_t> read_file(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Error(what + ": " + path, "cannot open it");
    }
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Sets `flag` after `seconds` unless cancelled first.
class Watchdog {
public:
    Watchdog(double seconds, std::atomic<bool>& flag) {
        if (seconds <= 0) {
            return;
        }
        thread_ = std::thread([this, seconds, &flag] {
            std::unique_lock lock(mutex_);
            if (!cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                              [this] { return cancelled_; })) {
                fired_ = true;
                flag = true;
            }
        });
    }
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            cancelled_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    bool fired() const { return fired_; }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool cancelled_ = false;
    std::atomic<bool> fired_{false};
    std::thread thread_;
};

// Sum RIP samples by the function System.map places them in.
std::vector<std::pair<std::string, uint64_t>>
profile_by_function(const std::unordered_map<uint64_t, uint64_t>& samples,
                    const std::string& kernel_path) {
    std::optional<SymbolTable> symbols;
    try {
        symbols = SymbolTable::load(std::filesystem::path(kernel_path).parent_path().string() +
                                    "/System.map");
    } catch (const Error&) {
        // No System.map beside the kernel: addresses stay numeric.
    }
    std::map<std::string, uint64_t> by_name;
    for (const auto& [rip, count] : samples) {
        std::string name;
        if (symbols) {
            if (auto match = symbols->lookup(rip)) {
                name = match->symbol->name;
            }
        }
        if (name.empty()) {
            char buf[24];
            std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(rip));
            name = rip < 0x800000000000ULL ? "[user space]" : buf;
        }
        by_name[name] += count;
    }
    std::vector<std::pair<std::string, uint64_t>> out(by_name.begin(), by_name.end());
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    return out;
}

trace::TraceMetadata trace_metadata(const GuestRunOptions& options, const MachineConfig& config,
                                    std::span<const uint8_t> flat_image) {
    trace::TraceMetadata m;
    m.krr_version = KRR_VERSION;
    if (options.flat_boot) {
        m.kernel.path = *options.image.kernel;
        m.kernel.version = "flat image";
        m.kernel.content_hash = content_hash_hex(flat_image);
    } else {
        KernelImage kernel = KernelImage::load(config.kernel_path);
        m.kernel.path = config.kernel_path;
        m.kernel.version = kernel.kernel_version();
        m.kernel.content_hash = content_hash_hex(kernel.bytes());
    }
    m.kernel_command_line = config.command_line;
    m.guest_command = options.image.command;
    m.cpuid = default_cpuid_table(config.vcpus);
    m.memory_size = config.memory_bytes;
    m.vcpu_count = config.vcpus;
    m.accelerator = options.accel;
    if (options.accel == "kvm" && kvm_is_pvm()) {
        m.kvm_flavor = "pvm";
    }
    m.creation_time = static_cast<uint64_t>(std::time(nullptr));
    return m;
}

// Tells a helper thread to end (`done`) and joins it, however the scope
// that started it is left.
struct StopThread {
    std::atomic<bool>& done;
    std::thread& thread;
    ~StopThread() {
        done = true;
        if (thread.joinable()) {
            thread.join();
        }
    }
};

// The guest's TSC reads to trap while recording under KVM (and the CPUIDs
// and FXSAVEs this PVM gets wrong, tsc_read_sites.h), found in its
// text through `symbols_path` (System.map format) and the page tables at
// `cr3`. Throws krr::Error when the map cannot be read.
std::vector<TrappedTscRead> tsc_reads_to_trap(const GuestMemory& memory, uint64_t cr3,
                                              const std::string& symbols_path, Log& log) {
    SymbolTable symbols = SymbolTable::load(symbols_path);
    TscReadScan scan = find_tsc_read_sites(memory, cr3, symbols);
    std::vector<TrappedTscRead> traps;
    for (const auto* sites : {&scan.sites, &scan.cpuid_sites, &scan.fxsave_sites}) {
        for (const TscReadSite& site : *sites) {
            TrappedTscRead t;
            t.rip = site.virtual_address;
            t.physical = site.physical_address;
            t.length = site.length;
            t.rdtscp = site.rdtscp;
            t.cpuid = sites == &scan.cpuid_sites;
            traps.push_back(t);
        }
    }
    if (log.enabled(LogLevel::Info)) {
        log.write(LogLevel::Info, "recording under KVM: " + std::to_string(scan.sites.size()) +
                                      " TSC reads, " + std::to_string(scan.cpuid_sites.size()) +
                                      " CPUIDs and " + std::to_string(scan.fxsave_sites.size()) +
                                      " FXSAVEs trapped (" +
                                      std::to_string(scan.instructions_decoded) +
                                      " instructions of " + std::to_string(scan.symbols_scanned) +
                                      " text symbols decoded from " + symbols_path + ")");
    }
    return traps;
}

// Where the symbols of what runs are: System.map beside a Linux kernel,
// IMAGE.map beside a flat IMAGE.bin (tests/kvm builds the micro-guest's).
std::string symbols_path_for(const GuestRunOptions& options, const MachineConfig& config) {
    namespace fs = std::filesystem;
    if (options.flat_boot) {
        return fs::path(*options.image.kernel).replace_extension(".map").string();
    }
    return (fs::path(config.kernel_path).parent_path() / "System.map").string();
}

} // namespace

CpuState load_flat_image(GuestMemory& memory, std::span<const uint8_t> image, uint64_t address) {
    using namespace guest_layout;
    // Present, writable, user: a flat image may switch to CPL 3 anywhere.
    constexpr uint64_t kPresentWritable = 0x7;
    constexpr uint64_t kLargePage = 0x80;
    constexpr uint64_t kTwoMiB = 2ULL << 20;
    constexpr unsigned kDirectories = 4; // 4 GiB: RAM and the APIC windows
    constexpr uint64_t kCode64Descriptor = 0x00af9b000000ffffULL;
    constexpr uint64_t kDataDescriptor = 0x00cf93000000ffffULL;
    if (address < kHighMemory || !memory.write(address, image)) {
        throw Error("loading a flat image", std::to_string(image.size()) + " bytes at " +
                                                hex(address) + " do not fit in guest memory");
    }
    auto write_u64s = [&](uint64_t at, const std::vector<uint64_t>& values) {
        std::vector<uint8_t> bytes(values.size() * 8);
        for (size_t i = 0; i < values.size(); ++i) {
            for (unsigned b = 0; b < 8; ++b) {
                bytes[i * 8 + b] = static_cast<uint8_t>(values[i] >> (8 * b));
            }
        }
        if (!memory.write(at, bytes)) {
            throw Error("loading a flat image", "guest memory too small for the boot tables");
        }
    };
    std::vector<uint64_t> pml4(512, 0);
    pml4[0] = kPdpt | kPresentWritable;
    write_u64s(kPml4, pml4);
    std::vector<uint64_t> pdpt(512, 0);
    for (unsigned i = 0; i < kDirectories; ++i) {
        pdpt[i] = (kPageDirectories + i * kPageSize) | kPresentWritable;
    }
    write_u64s(kPdpt, pdpt);
    std::vector<uint64_t> directories;
    for (uint64_t i = 0; i < kDirectories * 512; ++i) {
        directories.push_back((i * kTwoMiB) | kLargePage | kPresentWritable);
    }
    write_u64s(kPageDirectories, directories);
    write_u64s(kGdt, {0, 0, kCode64Descriptor, kDataDescriptor});
    return linux_entry_state(address, 0, kPml4, kGdt, kBootStackTop);
}

std::string default_kernel_command_line() {
    // cryptomgr.notests: the crypto self-tests (RSA above all) are about half
    // of the boot's instructions and test the CPU, not the kernel under study.
    // loglevel=5: warnings and worse reach the console, boot chatter does not.
    // acpi=off: the machine has MP tables, not ACPI; saying so spares the
    // kernel's error about a missing RSDP. (Two errors remain and are
    // harmless: "PCI: Fatal: No config space access function found" and
    // "mce: Unable to init MCE device": there is no PCI and no MCA.)
    // trace_clock=global: what the kernel switches to anyway with tsc=unstable,
    // said up front so it does not warn about it on every boot.
    return "console=ttyS0 nokaslr tsc=unstable panic=-1 cryptomgr.notests loglevel=5 "
           "trace_clock=global acpi=off";
}

const char* ending_name(GuestRunResult::Ending ending) {
    using E = GuestRunResult::Ending;
    switch (ending) {
    case E::CommandExited:
        return "command exited";
    case E::PoweredOff:
        return "powered off";
    case E::InitFailed:
        return "guest init failed";
    case E::KernelPanic:
        return "kernel panic";
    case E::GuestReset:
        return "guest reset";
    case E::Halted:
        return "halted";
    case E::InstructionLimit:
        return "instruction limit";
    case E::Timeout:
        return "timeout";
    case E::Interrupted:
        return "interrupted";
    case E::EmulatorLimit:
        return "emulator limit";
    }
    return "?";
}

GuestRunResult run_guest(const GuestRunOptions& options,
                         const std::function<void(uint8_t)>& console,
                         const std::atomic<bool>* stop) {
    if (options.accel != "tcg" && options.accel != "kvm") {
        throw Error("accel", "'" + options.accel + "' is not an accelerator (tcg or kvm)");
    }
    const bool kvm = options.accel == "kvm";
    if (kvm && options.interrupt_jitter_seed) {
        throw Error("accel", "interrupt jitter (--seed) is the emulator's: under KVM the host's "
                             "timing varies each run by itself");
    }
    if (options.flat_boot &&
        (options.initrd || !options.image.command.empty() || !options.image.file_specs.empty() ||
         !options.image.modules.empty())) {
        throw Error("boot", "a flat image runs alone: no initrd, files, modules or command");
    }
    if (options.flat_boot && options.record_path && !kvm) {
        throw Error("boot", "a flat image is recorded under KVM only (--accel kvm)");
    }
    if (options.flat_boot && !options.image.kernel) {
        throw Error("boot", "--boot flat needs the image as --kernel PATH");
    }

    MachineConfig config;
    config.memory_bytes = options.memory_bytes;
    config.vcpus = options.vcpus;
    std::vector<uint8_t> flat_image;
    if (options.flat_boot) {
        flat_image = read_file(*options.image.kernel, "flat image");
    } else if (config.kernel_path = locate_kernel(options.image.kernel); options.initrd) {
        config.initrd = read_file(*options.initrd, "initrd");
    } else {
        GuestImageRequest request = options.image;
        request.kernel = config.kernel_path;
        config.initrd = make_guest_image_builder(request).build();
    }
    config.vmlinux_cache_dir = guest_cache_dir() + "/vmlinux";
    config.command_line = default_kernel_command_line();
    if (!options.append.empty()) {
        config.command_line += " " + options.append;
    }
    if (options.debug_log) {
        config.log_level = LogLevel::Debug;
    }

    GuestRunResult result;
    std::optional<int> exit_status;
    bool powered_off = false;
    std::string init_failure;
    // The last console line, to recognise a panic message.
    std::string line;
    std::string panic_line;
    EmulatorAccelerator* accelerator = nullptr;
    KvmAccelerator* kvm_accelerator = nullptr;
    auto stop_accelerator = [&] {
        if (accelerator) {
            accelerator->request_stop();
        }
        if (kvm_accelerator) {
            kvm_accelerator->request_stop();
        }
    };

    MachineEvents events;
    std::unique_ptr<TraceRecorder> recorder;
    bool command_started = false;
    bool snapshot_pending = false;
    // --accel kvm with Linux: the emulator boots it (booting under this
    // host's nested KVM, whose kernel mode runs at about 1 MIPS, would take
    // hours) and hands the machine to KVM when the command starts, where a
    // recording will start (docs/kvm.md).
    bool kvm_handover_pending = false;
    events.console_output = [&](uint8_t byte) {
        console(byte);
        if (recorder) {
            recorder->console(byte);
        }
        if (byte == '\n') {
            if (panic_line.empty() &&
                line.find("Kernel panic - not syncing") != std::string::npos) {
                panic_line = line;
            }
            line.clear();
        } else if (byte != '\r' && line.size() < 4096) {
            line.push_back(static_cast<char>(byte));
        }
    };
    bool reset = false;
    events.reset = [&] {
        reset = true;
        stop_accelerator();
    };
    events.control = [&](const ControlEvent& event) {
        switch (event.kind) {
        case ControlEvent::Kind::CommandStarts:
            command_started = true;
            if (options.interrupt_jitter_seed && accelerator) {
                accelerator->set_interrupt_jitter(*options.interrupt_jitter_seed);
            }
            if (kvm && accelerator) {
                kvm_handover_pending = true;
                accelerator->request_stop();
            }
            if (options.record_path && !recorder && accelerator) {
                // Snapshot between instructions: stop after this OUT retires.
                snapshot_pending = true;
                accelerator->request_stop();
            }
            break;
        case ControlEvent::Kind::ExitStatus:
            exit_status = event.killed_by_signal()
                              ? 128 + static_cast<int>(event.status_or_signal())
                              : static_cast<int>(event.status_or_signal());
            break;
        case ControlEvent::Kind::PowerOff:
            powered_off = true;
            stop_accelerator();
            break;
        case ControlEvent::Kind::InitFailed:
            init_failure = "the guest init failed at step " + std::to_string(event.argument) +
                           " (its message is on the console)";
            stop_accelerator();
            break;
        default:
            break;
        }
    };

    Machine machine(config, events);
    if (options.flat_boot) {
        machine.vcpu(0).cpu = load_flat_image(machine.memory(), flat_image, kFlatImageAddress);
    }
    EmulatorAccelerator emulator(machine);
    std::unique_ptr<KvmAccelerator> kvm_run;
    // Recording under KVM: the snapshot is taken in the emulator (which
    // the machine was in until now), then KVM records from there.
    auto start_kvm = [&] {
        kvm_run = std::make_unique<KvmAccelerator>(machine);
        kvm_run->set_current_vcpu(emulator.current_vcpu());
        kvm_accelerator = kvm_run.get();
        accelerator = nullptr;
        if (!options.record_path) {
            return;
        }
        // Found before the trace is made, so a missing System.map leaves
        // no trace behind; patched after its snapshot.
        std::string symbols = symbols_path_for(options, config);
        std::vector<TrappedTscRead> traps;
        if (options.flat_boot && !std::filesystem::exists(symbols)) {
            machine.log().write(LogLevel::Warning,
                                "recording under KVM: no " + symbols +
                                    ": no TSC read is trapped (the image's own reads will "
                                    "fail verification)");
        } else {
            traps = tsc_reads_to_trap(machine.memory(), machine.vcpu(0).cpu.cr3, symbols,
                                      machine.log());
        }
        recorder = std::make_unique<TraceRecorder>(
            *options.record_path, trace_metadata(options, config, flat_image), machine, emulator);
        recorder->set_counts_unresolved();
        kvm_run->start_recording([&](const trace::InputRecord& r) { recorder->input(r); },
                                 std::move(traps));
    };
    if (kvm && options.flat_boot) {
        start_kvm();
    } else {
        accelerator = &emulator;
    }
    // Console input: a reader thread queues bytes, the emulator thread hands
    // them to the UART between slices. What the guest reads of them reaches
    // it through UART port reads, which the recording logs like any input.
    std::mutex input_mutex;
    std::vector<uint8_t> pending_input;
    // Held until the command starts: what arrives earlier would reach the
    // kernel's serial driver during boot, which discards it.
    emulator.set_slice_hook([&] {
        if (!command_started) {
            return;
        }
        std::lock_guard lock(input_mutex);
        if (!pending_input.empty()) {
            machine.console_input(pending_input);
            pending_input.clear();
        }
    });
    std::atomic<bool> input_done{false};
    std::thread input_reader;
    if (options.console_input_fd >= 0) {
        input_reader = std::thread([&] {
            while (!input_done) {
                pollfd p{options.console_input_fd, POLLIN, 0};
                if (poll(&p, 1, 50) <= 0) {
                    continue;
                }
                uint8_t buf[256];
                ssize_t n = read(options.console_input_fd, buf, sizeof buf);
                if (n <= 0) {
                    return; // end of input: the guest just sees no more
                }
                std::lock_guard lock(input_mutex);
                pending_input.insert(pending_input.end(), buf, buf + n);
            }
        });
    }
    StopThread stop_input_reader{input_done, input_reader};
    std::unordered_map<uint64_t, uint64_t> rip_samples;
    if (options.profile) {
        emulator.set_rip_profile(&rip_samples);
    }

    std::atomic<bool> halt_run{false};
    std::atomic<bool> timed_out{false};
    auto start = std::chrono::steady_clock::now();
    AcceleratorStop outcome;
    {
        Watchdog watchdog(options.timeout_seconds, timed_out);
        // One flag for the run loop: the caller's stop or the watchdog.
        std::atomic<bool> done{false};
        std::atomic<bool> recording{false};
        std::thread relay([&] {
            int ticks = 0;
            while (!done) {
                if ((stop && stop->load()) || timed_out.load()) {
                    halt_run = true;
                    return;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                if (options.progress && ++ticks % 25 == 0) {
                    options.progress(emulator.published_instructions(), recording.load());
                }
            }
        });
        // Joined however the loop is left (an accelerator's error too).
        StopThread stop_relay{done, relay};
        for (;;) {
            outcome = kvm_run ? kvm_run->run(&halt_run)
                              : emulator.run(options.max_instructions, &halt_run);
            if (kvm_handover_pending && outcome.kind == AcceleratorStop::Kind::StopRequested &&
                !halt_run) {
                kvm_handover_pending = false;
                snapshot_pending = false;
                start_kvm();
                recording = bool(recorder);
                continue;
            }
            if (snapshot_pending && outcome.kind == AcceleratorStop::Kind::StopRequested &&
                !halt_run) {
                snapshot_pending = false;
                recorder = std::make_unique<TraceRecorder>(
                    *options.record_path, trace_metadata(options, config, flat_image), machine,
                    emulator);
                emulator.set_input_observer(
                    [&](const trace::InputRecord& record) { recorder->input(record); });
                emulator.set_checkpoints(kStateHashInterval, [&] { recorder->checkpoint(); });
                recording = true;
                continue;
            }
            break;
        }
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.instructions = emulator.machine_instructions();
    result.halted_instructions = 0;
    for (unsigned i = 0; i < machine.vcpu_count(); ++i) {
        result.halted_instructions += emulator.skipped_while_halted(i);
    }
    if (kvm_run) {
        const KvmExitCounts& e = kvm_run->exit_counts();
        result.kvm_exits = {{"port read", e.port_reads},
                            {"port write", e.port_writes},
                            {"mmio read", e.mmio_reads},
                            {"mmio write", e.mmio_writes},
                            {"hlt", e.halts},
                            {"interrupt window", e.interrupt_windows},
                            {"kick", e.kicks},
                            {"emulated instruction", e.emulated_instructions},
                            {"interrupts injected", e.injected_interrupts},
                            {"msr access", e.msr_accesses},
                            {"syscalls completed", e.syscalls_completed},
                            {"exceptions delivered", e.exceptions_delivered},
                            {"interrupts delivered", e.interrupts_delivered},
                            {"tsc reads", e.tsc_reads},
                            {"positions", e.positions},
                            {"position pages", e.position_pages}};
    }
    if (options.profile) {
        result.profile = profile_by_function(rip_samples, config.kernel_path);
    }

    using E = GuestRunResult::Ending;
    if (!init_failure.empty()) {
        result.ending = E::InitFailed;
        result.message = init_failure;
    } else if (powered_off) {
        if (exit_status) {
            result.ending = E::CommandExited;
            result.exit_status = *exit_status;
        } else {
            result.ending = E::PoweredOff;
            result.message = "the guest powered off without reporting an exit status";
        }
    } else if (reset) {
        result.ending = panic_line.empty() ? E::GuestReset : E::KernelPanic;
        result.message = panic_line.empty() ? "the guest reset the machine" : panic_line;
    } else {
        switch (outcome.kind) {
        case AcceleratorStop::Kind::StopRequested:
            result.ending = timed_out ? E::Timeout : E::Interrupted;
            result.message = timed_out ? "the run exceeded --timeout" : "interrupted";
            break;
        case AcceleratorStop::Kind::InstructionLimit:
            result.ending = E::InstructionLimit;
            result.message = "reached --max-instructions";
            break;
        case AcceleratorStop::Kind::TripleFault:
            result.ending = panic_line.empty() ? E::GuestReset : E::KernelPanic;
            result.message = panic_line.empty() ? outcome.message : panic_line;
            break;
        case AcceleratorStop::Kind::HaltedForever:
            result.ending = panic_line.empty() ? E::Halted : E::KernelPanic;
            result.message = panic_line.empty() ? outcome.message : panic_line;
            break;
        case AcceleratorStop::Kind::Unimplemented:
            result.ending = E::EmulatorLimit;
            result.message = outcome.message;
            break;
        }
    }
    if (recorder) {
        std::optional<uint32_t> status;
        if (result.ending == E::CommandExited) {
            status = static_cast<uint32_t>(result.exit_status);
        }
        std::string reason = ending_name(result.ending);
        if (!result.message.empty()) {
            reason += ": " + result.message;
        }
        std::optional<trace::StatePosition> end;
        unsigned end_vcpu = 0;
        if (kvm_run && kvm_run->recording()) {
            // The guest's memory as it wrote it (the traps undone) for the
            // final hashes, and where it ended.
            kvm_run->stop_recording();
            end = kvm_run->position_now();
            end_vcpu = kvm_run->current_vcpu();
        }
        recorder->finish(reason, status, std::move(end), end_vcpu);
        result.recorded = true;
        result.recorded_instructions = result.instructions - recorder->start_instruction();
        result.recorded_inputs = recorder->inputs();
        result.trace_log_bytes = recorder->log_bytes();
    }
    return result;
}

} // namespace krr
