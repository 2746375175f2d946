// The micro-guest under both accelerators: the same machine and devices,
// the same console output, the same exit status.
#include "recorder/accel/emulator_accelerator.h"
#include "recorder/accel/kvm_accelerator.h"
#include "recorder/guest_run.h"
#include "recorder/machine/machine.h"
#include "tests/kvm/micro_guest_boot.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <doctest/doctest.h>
#include <optional>
#include <string>
#include <thread>

using namespace krr;

namespace {

// What the micro-guest prints on every accelerator (micro_guest.c): the
// control device answers, the RTC shows 2025 in BCD (MachineConfig's start
// time), one breakpoint and one invalid opcode handled, the APIC enabled by
// its SVR write, the timer counted to each loop's target, LSTAR read back
// as written, and user mode's SYSCALL, #GP, #PF and INT 0x80 handled at
// CPL 0 and returned from.
constexpr const char* kExpectedConsole =
    "krr micro-guest\n"
    "control device: present\n"
    "rtc year register: 0x25\n"
    "exceptions: int3 1, ud2 1\n"
    "local apic svr: 0x1ff\n"
    "spin: reached tick 20, counter moved\n"
    "halt: reached tick 40, tsc advanced\n"
    "spin again: reached tick 60, counter moved\n"
    "syscall: lstar reads back as written\n"
    "user mode: syscall 42 from cs 0x33, handler cs 0x10\n"
    "user mode: #gp from cs 0x33 error 0x0, #pf at 0x100000000 "
    "error 0x4, int 0x80 from cs 0x33, int3 from cs 0x33\n"
    "user mode: timer interrupts from cs 0x33, counter moved\n"
    "done\n";

struct MicroGuestRun {
    std::string console;
    std::optional<unsigned> exit_status;
    bool powered_off = false;
    AcceleratorStop stop;
    double seconds = 0;
    KvmExitCounts exits;
    bool completes_user_entries = false;
};

// Sets `flag` after `seconds` unless destroyed first: a hung guest fails
// the test instead of hanging it.
class Deadline {
public:
    Deadline(double seconds, std::atomic<bool>& flag)
        : thread_([this, seconds, &flag] {
              auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
              while (!done_ && std::chrono::steady_clock::now() < end)
                  std::this_thread::sleep_for(std::chrono::milliseconds(10));
              if (!done_)
                  flag = true;
          }) {}
    ~Deadline() {
        done_ = true;
        thread_.join();
    }

private:
    std::atomic<bool> done_{false};
    std::thread thread_;
};

template <typename RunOn>
MicroGuestRun run_micro_guest(RunOn run_on) {
    MicroGuestRun out;
    std::function<void()> request_stop;
    MachineConfig config;
    config.memory_bytes = 64ULL << 20;
    MachineEvents events;
    events.console_output = [&](uint8_t byte) { out.console.push_back(char(byte)); };
    events.control = [&](const ControlEvent& event) {
        if (event.kind == ControlEvent::Kind::ExitStatus)
            out.exit_status = event.status_or_signal();
        if (event.kind == ControlEvent::Kind::PowerOff) {
            out.powered_off = true;
            request_stop();
        }
    };
    Machine machine(config, events);
    std::vector<uint8_t> image = test::read_binary(KRR_MICRO_GUEST_BIN);
    REQUIRE(image.size() > 0);
    machine.vcpu(0).cpu = load_flat_image(machine.memory(), image, kFlatImageAddress);
    auto start = std::chrono::steady_clock::now();
    run_on(machine, request_stop, out);
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

MicroGuestRun run_in_emulator() {
    return run_micro_guest(
        [](Machine& machine, std::function<void()>& request_stop, MicroGuestRun& out) {
            EmulatorAccelerator emulator(machine);
            request_stop = [&] { emulator.request_stop(); };
            out.stop = emulator.run(500'000'000, nullptr);
        });
}

MicroGuestRun run_in_kvm() {
    return run_micro_guest(
        [](Machine& machine, std::function<void()>& request_stop, MicroGuestRun& out) {
            KvmAccelerator kvm(machine);
            request_stop = [&] { kvm.request_stop(); };
            std::atomic<bool> too_long{false};
            {
                Deadline deadline(30, too_long);
                out.stop = kvm.run(&too_long);
            }
            CHECK_FALSE(too_long.load());
            out.exits = kvm.exit_counts();
            out.completes_user_entries = kvm.completes_user_entries();
        });
}

void check_finished(const MicroGuestRun& run) {
    INFO("stop: ", run.stop.message);
    CHECK(run.stop.kind == AcceleratorStop::Kind::StopRequested);
    CHECK(run.powered_off);
    REQUIRE(run.exit_status.has_value());
    CHECK(*run.exit_status == 0);
    CHECK(run.console == kExpectedConsole);
}

// Starts in the emulator and hands the machine to KVM after
// `emulated_instructions`: how a recording will start (boot in the
// emulator, record under KVM).
MicroGuestRun run_handed_over(uint64_t emulated_instructions) {
    return run_micro_guest([emulated_instructions](Machine& machine,
                                                   std::function<void()>& request_stop,
                                                   MicroGuestRun& out) {
        {
            EmulatorAccelerator emulator(machine);
            request_stop = [&] { emulator.request_stop(); };
            AcceleratorStop first = emulator.run(emulated_instructions, nullptr);
            REQUIRE(first.kind == AcceleratorStop::Kind::InstructionLimit);
        }
        KvmAccelerator kvm(machine);
        request_stop = [&] { kvm.request_stop(); };
        std::atomic<bool> too_long{false};
        {
            Deadline deadline(30, too_long);
            out.stop = kvm.run(&too_long);
        }
        CHECK_FALSE(too_long.load());
        out.exits = kvm.exit_counts();
    });
}

} // namespace

TEST_CASE("the micro-guest runs to its end in the emulator") {
    MicroGuestRun emulator = run_in_emulator();
    check_finished(emulator);
}

TEST_CASE("the micro-guest runs under KVM as in the emulator") {
    MicroGuestRun emulator = run_in_emulator();
    MicroGuestRun kvm = run_in_kvm();
    check_finished(kvm);
    CHECK(kvm.console == emulator.console);
    const KvmExitCounts& e = kvm.exits;
    // Every interrupt the guest counted went through the recorder's
    // injection; the guest halted and used ports and the local APIC.
    CHECK(e.injected_interrupts >= 60);
    CHECK(e.halts > 0);
    // The loops make no exits: only the kick timer lets the PIT fire there.
    CHECK(e.kicks > 0);
    CHECK(e.mmio_writes >= 2);
    CHECK(e.port_writes > 0);
    CHECK(e.port_reads > 0);
    if (kvm.completes_user_entries) {
        // PVM: krr completed user_main's two SYSCALLs and its #GP, #PF,
        // INT 0x80 and INT3 (docs/kvm.md), and delivered every interrupt.
        CHECK(e.syscalls_completed == 2);
        CHECK(e.exceptions_delivered == 4);
        CHECK(e.interrupts_delivered == e.injected_interrupts);
        CHECK(e.msr_accesses == 2); // the guest's WRMSR and RDMSR of LSTAR
    }
    auto rate = [&](uint64_t n) { return double(n) / kvm.seconds; };
    char line[512];
    std::snprintf(line, sizeof line,
                  "KVM run %.3f s, exits/s: port read %.0f, port write %.0f, mmio read %.0f, "
                  "mmio write %.0f, hlt %.0f, interrupt window %.0f, kick %.0f; "
                  "injected %.0f/s; emulated by krr %llu; user entries completed by krr: "
                  "%llu syscalls, %llu exceptions; LSTAR accesses %llu; total %llu exits",
                  kvm.seconds, rate(e.port_reads), rate(e.port_writes), rate(e.mmio_reads),
                  rate(e.mmio_writes), rate(e.halts), rate(e.interrupt_windows), rate(e.kicks),
                  rate(e.injected_interrupts),
                  static_cast<unsigned long long>(e.emulated_instructions),
                  static_cast<unsigned long long>(e.syscalls_completed),
                  static_cast<unsigned long long>(e.exceptions_delivered),
                  static_cast<unsigned long long>(e.msr_accesses),
                  static_cast<unsigned long long>(e.total()));
    // The measurement for docs/kvm.md, shown by `meson test -v kvm`.
    std::fprintf(stderr, "%s\n", line);
}

TEST_CASE("the micro-guest started in the emulator finishes under KVM") {
    // 2000: before the IDT exists; 3000000: in the first loop with the
    // timer running (the PIT programmed, interrupts on).
    for (uint64_t handover : {2'000ULL, 3'000'000ULL}) {
        CAPTURE(handover);
        check_finished(run_handed_over(handover));
    }
}
