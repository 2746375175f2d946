// The oracle must itself be right before the emulator is judged by it: these
// snippets have results any x86-64 manual gives.
#include "guest-model/error.h"
#include "tests/support/native_oracle.h"

#include <csignal>
#include <cstring>
#include <doctest/doctest.h>

using krr::CpuState;
using krr::testing::NativeOracle;

TEST_CASE("the oracle runs a snippet and returns registers and flags") {
    NativeOracle oracle;
    CpuState in{};
    in.gpr[krr::RAX] = 0xffffffffffffffffULL;
    in.gpr[krr::RBX] = 1;
    const uint8_t add_rax_rbx[] = {0x48, 0x01, 0xd8};
    auto out = oracle.run(add_rax_rbx, in);
    CHECK(out.signal == 0);
    CHECK(out.cpu.gpr[krr::RAX] == 0);
    CHECK((out.cpu.rflags & 1) == 1);       // CF
    CHECK((out.cpu.rflags & 0x40) == 0x40); // ZF
    CHECK(out.cpu.rip == NativeOracle::kCodeAddress + sizeof add_rax_rbx);
    CHECK(out.cpu.gpr[krr::RBX] == 1);
}

TEST_CASE("the oracle reports stores into the window and faults beyond it") {
    NativeOracle oracle;
    CpuState in{};
    in.gpr[krr::RAX] = 0x1122334455667788ULL;
    // mov [0x20000008], rax
    const uint8_t store[] = {0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0x00, 0x20};
    auto out = oracle.run(store, in);
    REQUIRE(out.signal == 0);
    uint64_t v;
    std::memcpy(&v, out.window.data() + 8, 8);
    CHECK(v == 0x1122334455667788ULL);

    // mov rax, [0x20010000]: the guard page.
    const uint8_t load_guard[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x01, 0x20};
    out = oracle.run(load_guard, in);
    CHECK(out.signal == SIGSEGV);
    CHECK(out.fault_address == NativeOracle::kGuardAddress);
    CHECK(out.cpu.rip == NativeOracle::kCodeAddress); // the faulting instruction

    // div rcx with rcx = 0.
    in.gpr[krr::RCX] = 0;
    const uint8_t div_rcx[] = {0x48, 0xf7, 0xf1};
    out = oracle.run(div_rcx, in);
    CHECK(out.signal == SIGFPE);

    // The child survives faults: the next run is clean.
    out = oracle.run(store, in);
    CHECK(out.signal == 0);
}

TEST_CASE("the oracle carries SSE state both ways") {
    NativeOracle oracle;
    CpuState in{};
    uint32_t a[4] = {1, 2, 3, 0xffffffff}, b[4] = {10, 20, 30, 2};
    std::memcpy(in.fpu.xmm[0].data(), a, 16);
    std::memcpy(in.fpu.xmm[1].data(), b, 16);
    const uint8_t paddd[] = {0x66, 0x0f, 0xfe, 0xc1}; // paddd xmm0, xmm1
    auto out = oracle.run(paddd, in);
    REQUIRE(out.signal == 0);
    uint32_t r[4];
    std::memcpy(r, out.cpu.fpu.xmm[0].data(), 16);
    CHECK(r[0] == 11);
    CHECK(r[1] == 22);
    CHECK(r[2] == 33);
    CHECK(r[3] == 1);
    CHECK(out.cpu.fpu.mxcsr == 0x1f80);
}

TEST_CASE("a snippet that never ends is reported, and the oracle recovers") {
    NativeOracle oracle;
    CpuState in{};
    const uint8_t spin[] = {0xeb, 0xfe};
    CHECK_THROWS_AS(oracle.run(spin, in), krr::Error);
    const uint8_t nop[] = {0x90};
    CHECK(oracle.run(nop, in).signal == 0);
}

TEST_CASE("the oracle reports the exception behind a signal: vector and error code") {
    NativeOracle oracle;
    CpuState in{};
    // int 0x21 through a DPL-0 gate: #GP with the gate's IDT error code.
    const uint8_t int21[] = {0xcd, 0x21};
    auto out = oracle.run(int21, in);
    CHECK(out.signal == SIGSEGV);
    CHECK(out.trap_number == 13);
    CHECK(out.error_code == (0x21 << 3 | 2));
    CHECK(out.cpu.rip == NativeOracle::kCodeAddress); // a fault: at the instruction

    // int3: #BP, a trap (RIP after it).
    const uint8_t int3[] = {0xcc, 0x90};
    out = oracle.run(int3, in);
    CHECK(out.signal == SIGTRAP);
    CHECK(out.trap_number == 3);
    CHECK(out.cpu.rip == NativeOracle::kCodeAddress + 1);

    // A write to the unmapped guard page: #PF, error code write | user.
    in.gpr[krr::RAX] = NativeOracle::kGuardAddress;
    const uint8_t store_guard[] = {0x48, 0x89, 0x00}; // mov [rax], rax
    out = oracle.run(store_guard, in);
    CHECK(out.signal == SIGSEGV);
    CHECK(out.trap_number == 14);
    CHECK(out.error_code == (2 | 4));

    // ud2: #UD; the child still runs the next snippet cleanly.
    const uint8_t ud2[] = {0x0f, 0x0b};
    out = oracle.run(ud2, in);
    CHECK(out.signal == SIGILL);
    CHECK(out.trap_number == 6);
    const uint8_t nop[] = {0x90};
    out = oracle.run(nop, in);
    CHECK(out.signal == 0);
    CHECK(out.trap_number == -1);
}

TEST_CASE("stopped at a system call's entry, the oracle shows the state the kernel saw") {
    NativeOracle oracle;
    CpuState in{};
    in.gpr[krr::RAX] = 0xffff; // no such system call, were it run
    in.gpr[krr::RBX] = 0x1234;
    in.gpr[krr::R12] = 0x5678;
    const uint8_t syscall[] = {0x0f, 0x05};
    auto out = oracle.run(syscall, in, {}, krr::testing::SystemCalls::StopAtEntry);
    CHECK(out.system_call_entry);
    CHECK_FALSE(out.system_call_32bit);
    CHECK(out.signal == 0);
    CHECK(out.cpu.gpr[krr::RCX] == NativeOracle::kCodeAddress + 2); // what SYSCALL saved
    CHECK(out.cpu.gpr[krr::RBX] == 0x1234);
    CHECK(out.cpu.gpr[krr::R12] == 0x5678);

    // int 0x80 enters through the 32-bit entry.
    const uint8_t int80[] = {0xcd, 0x80};
    out = oracle.run(int80, in, {}, krr::testing::SystemCalls::StopAtEntry);
    CHECK(out.system_call_entry);
    CHECK(out.system_call_32bit);

    // Run normally, the call happens and returns -ENOSYS; the child is fine.
    out = oracle.run(syscall, in);
    CHECK_FALSE(out.system_call_entry);
    CHECK(out.cpu.gpr[krr::RAX] == static_cast<uint64_t>(-38));
    const uint8_t nop[] = {0x90};
    CHECK(oracle.run(nop, in).signal == 0);
}
