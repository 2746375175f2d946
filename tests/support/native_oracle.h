// The host CPU as the oracle for user-level instruction semantics: a snippet
// of machine code runs natively in a traced child process, from a register
// state and a data window the test chooses, and the resulting registers,
// window contents, or fault come back. The emulator's answer for the same
// snippet must be identical.
#pragma once

#include "guest-model/machine_state.h"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <sys/types.h>
#include <sys/user.h>
#include <vector>

namespace krr::testing {

struct NativeOutcome {
    // 0 when the snippet ran to its end; otherwise the signal that stopped it
    // (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP for a stray INT3...).
    int signal = 0;
    uint64_t fault_address = 0; // si_addr for SIGSEGV/SIGBUS
    // The exception behind the signal as the kernel saw it (the trap number
    // and error code it puts in the signal frame), when the signal came
    // from one; trap_number is -1 otherwise. Linux sets the P bit of a page
    // fault's error code at a kernel address (to hide what is mapped there).
    int trap_number = -1;
    uint64_t error_code = 0;
    // With SystemCalls::StopAtEntry: the snippet entered the kernel through
    // a system call entry; cpu is the user state the kernel saved there (RIP
    // and RSP are what Linux records, not the CPU) and the call was not run.
    bool system_call_entry = false;
    bool system_call_32bit = false; // through a 32-bit entry (INT 0x80, SYSENTER)
    CpuState cpu{};                 // GPRs, RIP, RFLAGS, FPU/SSE state after
    std::vector<uint8_t> window;    // the data window after
};

// What the child does at a system call: let the host's kernel run it
// (Run), or stop where the kernel is entered and skip it (StopAtEntry,
// for instructions whose return Linux makes unusable, such as SYSENTER).
enum class SystemCalls { Run, StopAtEntry };

class NativeOracle {
public:
    // Fixed addresses in the child: code runs from kCodeAddress; the data
    // window (read/write) is followed by an unmapped guard page.
    static constexpr uint64_t kCodeAddress = 0x10000000;
    static constexpr uint64_t kWindowAddress = 0x20000000;
    static constexpr uint64_t kWindowSize = 64 * 1024;
    static constexpr uint64_t kGuardAddress = kWindowAddress + kWindowSize;
    // Where the child's signal handler leaves the trap number and error code
    // of the last exception, on the stack it runs on: far from where the
    // sweep's addresses land (window + register values of the forms
    // random_register makes), which must find nothing mapped there.
    static constexpr uint64_t kReportAddress = 0x7e0000000000;

    NativeOracle(); // throws krr::Error if the child cannot be set up
    ~NativeOracle();
    NativeOracle(const NativeOracle&) = delete;
    NativeOracle& operator=(const NativeOracle&) = delete;

    // Run `code` (at most 4000 bytes) with GPRs, RFLAGS and FPU/SSE state
    // from `in` (RIP is ignored) and the window holding `window` (zero
    // padded). Segment registers and FS/GS bases are the child's own.
    NativeOutcome run(std::span<const uint8_t> code, const CpuState& in,
                      std::span<const uint8_t> window = {},
                      SystemCalls system_calls = SystemCalls::Run);

private:
    void start_child();
    // Lets the pending signal `sig` reach the child's handler and reads the
    // trap number and error code it reports.
    void read_trap_report(int sig, NativeOutcome& out);
    // At a system-call entry stop: cancel the call and run to its exit stop.
    void skip_system_call(const user_regs_struct& at_entry);
    void stop_child();
    pid_t child_ = -1;
};

} // namespace krr::testing
