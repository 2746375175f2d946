// A minimal long-mode machine for running user-mode snippets in the
// interpreter at the same addresses the native oracle uses: the code page at
// NativeOracle::kCodeAddress, the data window at kWindowAddress with an
// unmapped guard page after it, CPL 3, and an IDT whose every vector lands on
// its own supervisor address so a delivered fault is recognised by RIP. As in
// Linux, only vectors 3, 4 and 0x80 may be raised by INT n at CPL 3, and
// SYSCALL and SYSENTER enter the kernel (each at its own landing). The TSS has no I/O
// permission bitmap, so port I/O at CPL 3 faults.
#pragma once

#include "guest-model/cpuid_table.h"
#include "replay-engine/interpreter/interpreter.h"

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace krr::testing {

struct EmulatedOutcome {
    bool ok = true; // false: the interpreter stopped (see error)
    std::string error;
    int vector = -1;        // the exception delivered, or -1
    uint64_t fault_rip = 0; // the RIP in the exception frame
    uint64_t fault_cr2 = 0;
    uint64_t error_code = 0; // when the vector pushes one
    // SYSCALL or SYSENTER reached the kernel's entry (LSTAR,
    // IA32_SYSENTER_EIP); cpu is the state there.
    bool system_call = false;
    CpuState cpu{}; // at the end, or at the fault (as the exception frame has it)
    std::vector<uint8_t> window;
    uint64_t instructions = 0;
};

// The status flags and DF: what both sides of a comparison must agree on.
inline constexpr uint64_t kStatusAndDf = 0xcd5; // CF PF AF ZF SF DF OF

// Whether the signal the native oracle's child got is what the exception
// `vector` delivered in the emulator becomes under Linux.
bool signal_matches_vector(int signal, int vector);

class UserModeMachine {
public:
    UserModeMachine();
    ~UserModeMachine();
    EmulatedOutcome run(std::span<const uint8_t> code, const CpuState& in,
                        std::span<const uint8_t> window = {});

private:
    // run() in two halves: memory made ready and the CPU state to start
    // from; then, once stopped with `now` at a landing or at the end, the
    // outcome (`before`: the state before the last instruction, for what a
    // fault leaves untouched).
    CpuState prepare(std::span<const uint8_t> code, const CpuState& in,
                     std::span<const uint8_t> window);
    // Which landing `rip` is: a vector (0-255), kSystemCallLanding,
    // kSysenterLanding, or -1.
    static int landing_at(uint64_t rip);
    static constexpr int kSystemCallLanding = 256;
    static constexpr int kSysenterLanding = 257;
    EmulatedOutcome outcome(const CpuState& before, const CpuState& now);

    class NoDevices;
    GuestMemory ram_{64ULL << 20};
    std::unique_ptr<NoDevices> devices_;
    CpuidTable cpuid_ = default_cpuid_table();
    VcpuState vcpu_{};
    CpuState initial_{};
};

} // namespace krr::testing
