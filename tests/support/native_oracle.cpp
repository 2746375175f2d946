#include "tests/support/native_oracle.h"

#include "guest-model/error.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

namespace krr::testing {

namespace {

constexpr uint64_t kCodeSize = 4096;
constexpr size_t kAltStackSize = 64 * 1024;
constexpr uint32_t kAuditArchI386 = 0x40000003; // AUDIT_ARCH_I386

// What the handler leaves at kReportAddress.
struct TrapReport {
    uint64_t signal;
    uint64_t trap_number;
    uint64_t error_code;
};

// Runs in the child on its own stack (the snippet's RSP is arbitrary) when
// the tracer lets a fault's signal through: ptrace shows the registers but
// not the trap number or error code, which only the signal frame carries.
// It must not touch TLS (FS may have been reloaded by the snippet), hence
// no stack protector or sanitizer; it stops with INT3 for the tracer, which
// then starts the next snippet from fresh registers (the handler never
// returns, so SA_NODEFER keeps the signal unblocked).
__attribute__((no_stack_protector, no_sanitize("address", "undefined"))) void
report_trap(int signal, siginfo_t*, void* context) {
    const auto* uc = static_cast<const ucontext_t*>(context);
    auto* report = reinterpret_cast<volatile TrapReport*>(NativeOracle::kReportAddress);
    report->signal = static_cast<uint64_t>(signal);
    report->trap_number = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_TRAPNO]);
    report->error_code = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_ERR]);
    for (;;) {
        asm volatile("int3");
    }
}

[[noreturn]] void child_main() {
    // Runs in the forked child: map the fixed areas, then wait to be driven.
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) {
        _exit(101);
    }
    void* code =
        mmap(reinterpret_cast<void*>(NativeOracle::kCodeAddress), kCodeSize,
             PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    void* window =
        mmap(reinterpret_cast<void*>(NativeOracle::kWindowAddress), NativeOracle::kWindowSize,
             PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    // The report page, then the handler's stack above it.
    void* report = mmap(reinterpret_cast<void*>(NativeOracle::kReportAddress), 4096 + kAltStackSize,
                        PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (code == MAP_FAILED || window == MAP_FAILED || report == MAP_FAILED) {
        _exit(102);
    }
    stack_t ss{};
    ss.ss_sp = static_cast<uint8_t*>(report) + 4096;
    ss.ss_size = kAltStackSize;
    struct sigaction sa {};
    sa.sa_sigaction = report_trap;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaltstack(&ss, nullptr) != 0) {
        _exit(103);
    }
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP}) {
        if (sigaction(sig, &sa, nullptr) != 0) {
            _exit(104);
        }
    }
    // Keep the guard page unmapped even if something else landed there.
    munmap(reinterpret_cast<void*>(NativeOracle::kGuardAddress), 4096);
    raise(SIGSTOP);
    for (;;) {
        pause();
    }
}

void write_child(pid_t pid, uint64_t address, std::span<const uint8_t> data) {
    iovec local{const_cast<uint8_t*>(data.data()), data.size()};
    iovec remote{reinterpret_cast<void*>(address), data.size()};
    if (process_vm_writev(pid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(data.size())) {
        throw Error("native oracle", "cannot write the child's memory: " + errno_text(errno));
    }
}

void read_child(pid_t pid, uint64_t address, std::span<uint8_t> out) {
    iovec local{out.data(), out.size()};
    iovec remote{reinterpret_cast<void*>(address), out.size()};
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(out.size())) {
        throw Error("native oracle", "cannot read the child's memory: " + errno_text(errno));
    }
}

// Wait for the child to stop, at most ~2 s (a snippet that never ends).
bool wait_stopped(pid_t pid, int* status) {
    for (int i = 0; i < 2000; ++i) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            return true;
        }
        if (r < 0) {
            return false;
        }
        timespec ts{0, i < 10 ? 10000 : 1000000};
        nanosleep(&ts, nullptr);
    }
    return false;
}

} // namespace

NativeOracle::NativeOracle() {
    start_child();
}

NativeOracle::~NativeOracle() {
    stop_child();
}

void NativeOracle::start_child() {
    pid_t pid = fork();
    if (pid < 0) {
        throw Error("native oracle", "fork: " + errno_text(errno));
    }
    if (pid == 0) {
        child_main();
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        throw Error("native oracle", "the traced child did not start");
    }
    ptrace(PTRACE_SETOPTIONS, pid, nullptr,
           reinterpret_cast<void*>(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD));
    child_ = pid;
}

void NativeOracle::stop_child() {
    if (child_ > 0) {
        kill(child_, SIGKILL);
        int status;
        waitpid(child_, &status, 0);
        child_ = -1;
    }
}

void NativeOracle::skip_system_call(const user_regs_struct& at_entry) {
    user_regs_struct skipped = at_entry;
    skipped.orig_rax = ~0ULL; // no system call: the kernel goes straight to the exit
    ptrace(PTRACE_SETREGS, child_, nullptr, &skipped);
    ptrace(PTRACE_SYSCALL, child_, nullptr, nullptr);
    int status = 0;
    if (!wait_stopped(child_, &status) || !WIFSTOPPED(status) ||
        WSTOPSIG(status) != (SIGTRAP | 0x80)) {
        stop_child();
        start_child();
        throw Error("native oracle", "the skipped system call did not reach its exit stop");
    }
}

void NativeOracle::read_trap_report(int sig, NativeOutcome& out) {
    TrapReport report{~0ULL, 0, 0};
    write_child(child_, kReportAddress,
                std::span(reinterpret_cast<const uint8_t*>(&report), sizeof report));
    ptrace(PTRACE_CONT, child_, nullptr, reinterpret_cast<void*>(static_cast<intptr_t>(sig)));
    int status = 0;
    if (!wait_stopped(child_, &status) || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
        stop_child();
        start_child();
        throw Error("native oracle", "the child's fault handler did not report");
    }
    read_child(child_, kReportAddress,
               std::span(reinterpret_cast<uint8_t*>(&report), sizeof report));
    if (report.signal != static_cast<uint64_t>(sig)) {
        throw Error("native oracle", "the fault handler reported another signal");
    }
    out.trap_number = static_cast<int>(report.trap_number);
    out.error_code = report.error_code;
    // The child now sits in its handler; the next run sets every register.
}

NativeOutcome NativeOracle::run(std::span<const uint8_t> code, const CpuState& in,
                                std::span<const uint8_t> window, SystemCalls system_calls) {
    if (code.size() > kCodeSize - 16) {
        throw Error("native oracle", "snippet too long");
    }
    if (window.size() > kWindowSize) {
        throw Error("native oracle", "window contents too long");
    }
    // INT3 ends the snippet and fills the rest of the page, as in the
    // user-mode machine (an access into the code page then reads the same).
    std::vector<uint8_t> code_page(kCodeSize, 0xcc);
    std::copy(code.begin(), code.end(), code_page.begin());
    write_child(child_, kCodeAddress, code_page);
    std::vector<uint8_t> win(kWindowSize, 0);
    if (!window.empty()) {
        std::memcpy(win.data(), window.data(), window.size());
    }
    write_child(child_, kWindowAddress, win);

    user_regs_struct regs{};
    if (ptrace(PTRACE_GETREGS, child_, nullptr, &regs) != 0) {
        throw Error("native oracle", "PTRACE_GETREGS: " + errno_text(errno));
    }
    const auto& g = in.gpr;
    regs.rax = g[RAX], regs.rcx = g[RCX], regs.rdx = g[RDX], regs.rbx = g[RBX];
    regs.rsp = g[RSP], regs.rbp = g[RBP], regs.rsi = g[RSI], regs.rdi = g[RDI];
    regs.r8 = g[R8], regs.r9 = g[R9], regs.r10 = g[R10], regs.r11 = g[R11];
    regs.r12 = g[R12], regs.r13 = g[R13], regs.r14 = g[R14], regs.r15 = g[R15];
    regs.rip = kCodeAddress;
    // 64-bit user code again, whatever a skipped SYSENTER left (Linux
    // returns from one in compatibility mode).
    regs.cs = 0x33;
    regs.ss = 0x2b;
    regs.eflags = (in.rflags & 0x00000cd5ULL) | (in.rflags & (1ULL << 18)) | 0x202;
    if (ptrace(PTRACE_SETREGS, child_, nullptr, &regs) != 0) {
        throw Error("native oracle", "PTRACE_SETREGS: " + errno_text(errno));
    }
    user_fpregs_struct fp{};
    fp.cwd = in.fpu.fcw;
    fp.swd = in.fpu.fsw;
    fp.ftw = in.fpu.ftw;
    fp.mxcsr = in.fpu.mxcsr;
    for (int i = 0; i < 8; ++i) {
        std::memcpy(reinterpret_cast<uint8_t*>(fp.st_space) + 16 * i, in.fpu.st[i].data(), 16);
    }
    for (int i = 0; i < 16; ++i) {
        std::memcpy(reinterpret_cast<uint8_t*>(fp.xmm_space) + 16 * i, in.fpu.xmm[i].data(), 16);
    }
    if (ptrace(PTRACE_SETFPREGS, child_, nullptr, &fp) != 0) {
        throw Error("native oracle", "PTRACE_SETFPREGS: " + errno_text(errno));
    }

    const bool stop_at_entry = system_calls == SystemCalls::StopAtEntry;
    ptrace(stop_at_entry ? PTRACE_SYSCALL : PTRACE_CONT, child_, nullptr, nullptr);
    int status = 0;
    if (!wait_stopped(child_, &status)) {
        stop_child();
        start_child();
        throw Error("native oracle", "the snippet did not finish within 2 seconds");
    }
    if (!WIFSTOPPED(status)) {
        child_ = -1;
        start_child();
        throw Error("native oracle", "the child died unexpectedly");
    }
    NativeOutcome out;
    int sig = WSTOPSIG(status);
    ptrace(PTRACE_GETREGS, child_, nullptr, &regs);
    ptrace(PTRACE_GETFPREGS, child_, nullptr, &fp);
    bool clean_end = sig == SIGTRAP && regs.rip == kCodeAddress + code.size() + 1;
    if (sig == (SIGTRAP | 0x80)) {
        // A system-call entry stop (PTRACE_O_TRACESYSGOOD).
        out.system_call_entry = true;
        __ptrace_syscall_info info{};
        if (ptrace(PTRACE_GET_SYSCALL_INFO, child_, sizeof info, &info) > 0) {
            out.system_call_32bit = info.arch == kAuditArchI386;
        }
        skip_system_call(regs);
    } else if (clean_end) {
        regs.rip -= 1; // report the address after the snippet, before the INT3
    } else {
        out.signal = sig;
        siginfo_t info{};
        if (ptrace(PTRACE_GETSIGINFO, child_, nullptr, &info) == 0) {
            out.fault_address = reinterpret_cast<uint64_t>(info.si_addr);
            // A signal the CPU raised (si_code > 0, not sent by a process)
            // has a trap number: let the handler report it.
            if (info.si_code > 0 || sig == SIGTRAP) {
                read_trap_report(sig, out);
            }
        }
    }
    auto& o = out.cpu.gpr;
    o[RAX] = regs.rax, o[RCX] = regs.rcx, o[RDX] = regs.rdx, o[RBX] = regs.rbx;
    o[RSP] = regs.rsp, o[RBP] = regs.rbp, o[RSI] = regs.rsi, o[RDI] = regs.rdi;
    o[R8] = regs.r8, o[R9] = regs.r9, o[R10] = regs.r10, o[R11] = regs.r11;
    o[R12] = regs.r12, o[R13] = regs.r13, o[R14] = regs.r14, o[R15] = regs.r15;
    out.cpu.rip = regs.rip;
    out.cpu.rflags = regs.eflags;
    out.cpu.fpu.fcw = fp.cwd;
    out.cpu.fpu.fsw = fp.swd;
    out.cpu.fpu.ftw = static_cast<uint8_t>(fp.ftw);
    out.cpu.fpu.fop = fp.fop;
    out.cpu.fpu.mxcsr = fp.mxcsr;
    for (int i = 0; i < 8; ++i) {
        std::memcpy(out.cpu.fpu.st[i].data(), reinterpret_cast<uint8_t*>(fp.st_space) + 16 * i, 16);
    }
    for (int i = 0; i < 16; ++i) {
        std::memcpy(out.cpu.fpu.xmm[i].data(), reinterpret_cast<uint8_t*>(fp.xmm_space) + 16 * i,
                    16);
    }
    out.window.resize(kWindowSize);
    read_child(child_, kWindowAddress, out.window);
    return out;
}

} // namespace krr::testing
