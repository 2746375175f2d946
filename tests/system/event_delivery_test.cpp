#include "replay-engine/system/control_transfer.h"
#include "replay-engine/system/event_delivery.h"
#include "replay-engine/system/segment_load.h"

#include <cstring>
#include <doctest/doctest.h>

using namespace krr;

namespace {

// Paging off: linear = physical. A GDT, IDT and TSS laid out as Linux does:
// 0x10 kernel CS, 0x18 kernel DS, 0x2b user DS, 0x33 user CS, 0x40 TSS.
struct Machine {
    GuestMemory ram{4 << 20};
    LinearMemory mem{ram, nullptr};
    CpuState cpu{};
    static constexpr uint64_t kGdt = 0x1000, kIdt = 0x2000, kTss = 0x3000;
    static constexpr uint64_t kRsp0 = 0x80000, kIst1 = 0x90008; // deliberately unaligned IST

    void put64(uint64_t at, uint64_t v) { std::memcpy(ram.host(at, 8), &v, 8); }
    uint64_t get64(uint64_t at) {
        uint64_t v;
        std::memcpy(&v, ram.host(at, 8), 8);
        return v;
    }
    // Gate: offset, selector, IST, type, DPL, present.
    void gate(uint8_t vector, uint64_t offset, uint8_t ist = 0, uint8_t type = 0xe, uint8_t dpl = 0,
              bool present = true) {
        uint64_t low = (offset & 0xffff) | (0x10ULL << 16) | (uint64_t(ist) << 32) |
                       (uint64_t(type) << 40) | (uint64_t(dpl) << 45) | (uint64_t(present) << 47) |
                       (((offset >> 16) & 0xffff) << 48);
        put64(kIdt + vector * 16, low);
        put64(kIdt + vector * 16 + 8, offset >> 32);
    }
    Machine() {
        put64(kGdt + 0x10, 0x00af9b000000ffffULL); // 64-bit code, DPL 0
        put64(kGdt + 0x18, 0x00cf93000000ffffULL); // data, DPL 0
        put64(kGdt + 0x28, 0x00cff3000000ffffULL); // data, DPL 3
        put64(kGdt + 0x30, 0x00affb000000ffffULL); // 64-bit code, DPL 3
        // 64-bit available TSS at kTss, limit 0x67.
        put64(kGdt + 0x40, 0x0000890000000067ULL | ((kTss & 0xffffff) << 16));
        put64(kGdt + 0x48, 0);
        put64(kTss + 4, kRsp0);
        put64(kTss + 36, kIst1);
        cpu.gdtr = {kGdt, 0x4f};
        cpu.idtr = {kIdt, 256 * 16 - 1};
        load_task_register(cpu, mem, 0x40);
        cpu.cr0 = 0x11; // PE, no paging: linear == physical
        cpu.msr.efer = 0x500;
        // Start in user mode.
        cpu.seg[CS] = unpack_descriptor(0x00affb000000ffffULL, 0, false);
        cpu.seg[CS].selector = 0x33;
        cpu.seg[SS] = unpack_descriptor(0x00cff3000000ffffULL, 0, false);
        cpu.seg[SS].selector = 0x2b;
        cpu.gpr[RSP] = 0x7ff0;
        cpu.rip = 0x401000;
        cpu.rflags = 0x202 | (1ULL << 8); // IF, TF
        mem.set_paging({cpu.cr0, 0, 0, cpu.msr.efer});
    }
};

} // namespace

TEST_CASE("a page fault in user mode switches to RSP0 and pushes the full frame") {
    Machine m;
    m.gate(kPageFault, 0xffffffff81000000ULL);
    GuestFault pf = GuestFault::pf(0xdead000, kPfUser | kPfWrite);
    REQUIRE(deliver_event(m.cpu, m.mem, exception_event(pf)) == DeliveryOutcome::Delivered);
    CHECK(m.cpu.rip == 0xffffffff81000000ULL);
    CHECK(m.cpu.seg[CS].selector == 0x10);
    CHECK(m.cpu.seg[SS].selector == 0);
    CHECK(m.cpu.cr2 == 0xdead000);
    CHECK((m.cpu.rflags & (1ULL << 9)) == 0); // interrupt gate clears IF
    CHECK((m.cpu.rflags & (1ULL << 8)) == 0); // and TF
    // Frame: error code, RIP, CS, RFLAGS, RSP, SS below RSP0.
    uint64_t sp = Machine::kRsp0 - 6 * 8;
    CHECK(m.cpu.gpr[RSP] == sp);
    CHECK(m.get64(sp) == (kPfUser | kPfWrite));
    CHECK(m.get64(sp + 8) == 0x401000);
    CHECK(m.get64(sp + 16) == 0x33);
    CHECK(m.get64(sp + 24) == (0x202 | (1ULL << 8) | (1ULL << 16))); // a fault: RF set
    CHECK(m.get64(sp + 32) == 0x7ff0);
    CHECK(m.get64(sp + 40) == 0x2b);
}

TEST_CASE("an IST gate aligns its stack to 16 bytes; a trap gate keeps IF") {
    Machine m;
    m.gate(kNmi, 0xffffffff81001000ULL, 1, 0xf);
    REQUIRE(deliver_event(m.cpu, m.mem, Event{kNmi, EventKind::Nmi}) == DeliveryOutcome::Delivered);
    CHECK(m.cpu.gpr[RSP] == (Machine::kIst1 & ~0xfULL) - 5 * 8);
    CHECK((m.cpu.rflags & (1ULL << 9)) != 0);
    CHECK(m.cpu.events.nmi_masked == 1);
}

TEST_CASE("INT n through a DPL 0 gate from user mode is #GP naming the IDT entry") {
    Machine m;
    m.gate(0x80, 0xffffffff81002000ULL);
    m.gate(kGeneralProtection, 0xffffffff81003000ULL);
    REQUIRE(deliver_event(m.cpu, m.mem, Event{0x80, EventKind::SoftwareInterrupt}) ==
            DeliveryOutcome::Delivered);
    CHECK(m.cpu.rip == 0xffffffff81003000ULL);
    CHECK(m.get64(m.cpu.gpr[RSP]) == (0x80u << 3 | 2u));
}

TEST_CASE("a fault while delivering a page fault becomes #DF; a fault in #DF is a triple fault") {
    Machine m;
    m.gate(kPageFault, 0xffffffff81000000ULL, 0, 0xe, 0, false); // not present: #NP
    m.gate(kDoubleFault, 0xffffffff81004000ULL, 1);
    GuestFault pf = GuestFault::pf(0x1000, 0);
    REQUIRE(deliver_event(m.cpu, m.mem, exception_event(pf)) == DeliveryOutcome::Delivered);
    CHECK(m.cpu.rip == 0xffffffff81004000ULL);
    CHECK(m.get64(m.cpu.gpr[RSP]) == 0); // #DF's error code is zero

    Machine t;
    t.cpu.idtr.limit = 0; // nothing can be delivered
    CHECK(deliver_event(t.cpu, t.mem, exception_event(GuestFault::gp())) ==
          DeliveryOutcome::TripleFault);
}

TEST_CASE("IRETQ returns to user mode and restores the interrupted state") {
    Machine m;
    m.gate(kPageFault, 0xffffffff81000000ULL);
    CpuState before = m.cpu;
    REQUIRE(deliver_event(m.cpu, m.mem, exception_event(GuestFault::pf(0x1000, kPfUser))) ==
            DeliveryOutcome::Delivered);
    m.cpu.gpr[RSP] += 8; // the handler pops the error code
    execute_iretq(m.cpu, m.mem);
    CHECK(m.cpu.rip == before.rip);
    CHECK(m.cpu.gpr[RSP] == before.gpr[RSP]);
    CHECK(m.cpu.seg[CS].selector == 0x33);
    CHECK(m.cpu.seg[SS].selector == 0x2b);
    CHECK(m.cpu.seg[SS].dpl == 3);
    // The faulting instruction is restarted with RF set (cleared when it
    // completes), so an instruction breakpoint on it does not hit again.
    CHECK(m.cpu.rflags == (before.rflags | (1ULL << 16)));
}

TEST_CASE("IRETQ from user mode cannot raise IOPL or clear IF beyond its rights") {
    Machine m;
    m.cpu.rflags = 0x202;
    uint64_t frame[5] = {0x401000, 0x33, 0x3002 /* IOPL 3, IF clear */, 0x7000, 0x2b};
    std::memcpy(m.ram.host(0x6000, sizeof frame), frame, sizeof frame);
    m.cpu.gpr[RSP] = 0x6000;
    execute_iretq(m.cpu, m.mem);
    CHECK(((m.cpu.rflags >> 12) & 3) == 0);
    CHECK((m.cpu.rflags & (1ULL << 9)) != 0);
}

TEST_CASE("SYSCALL and SYSRET follow STAR, LSTAR and SFMASK") {
    Machine m;
    m.cpu.msr.star = (0x23ULL << 48) | (0x10ULL << 32);
    m.cpu.msr.lstar = 0xffffffff81005000ULL;
    m.cpu.msr.sfmask = 0x47700; // TF, IF, DF, AC, NT...
    m.cpu.rip = 0x401002;       // after the SYSCALL
    m.cpu.rflags = 0x246;
    execute_syscall(m.cpu);
    CHECK(m.cpu.gpr[RCX] == 0x401002);
    CHECK(m.cpu.gpr[R11] == 0x246);
    CHECK(m.cpu.rip == 0xffffffff81005000ULL);
    CHECK(m.cpu.seg[CS].selector == 0x10);
    CHECK(m.cpu.seg[SS].selector == 0x18);
    CHECK((m.cpu.rflags & (1ULL << 9)) == 0);
    execute_sysret(m.cpu, true);
    CHECK(m.cpu.rip == 0x401002);
    CHECK(m.cpu.seg[CS].selector == 0x33);
    CHECK(m.cpu.seg[SS].selector == 0x2b);
    CHECK(m.cpu.rflags == 0x246);

    // A non-canonical return address faults in the kernel.
    m.cpu.seg[CS].selector = 0x10;
    m.cpu.gpr[RCX] = 0x0000800000000000ULL;
    CHECK_THROWS_AS(execute_sysret(m.cpu, true), GuestFault);
}

// SDM vol. 2B, SYSRET: without REX.W the return is to compatibility mode,
// CS = STAR[63:48] (not + 16) with L = 0 and D = 1, EIP = ECX; RCX need not
// be canonical there. SYSRET at CPL 3 is #GP(0).
TEST_CASE("SYSRET without REX.W returns to compatibility mode at ECX") {
    Machine m;
    m.cpu.msr.star = (0x23ULL << 48) | (0x10ULL << 32);
    CHECK_THROWS_AS(execute_sysret(m.cpu, false), GuestFault); // from CPL 3
    m.cpu.seg[CS] = unpack_descriptor(0x00af9b000000ffffULL, 0, false);
    m.cpu.seg[CS].selector = 0x10;
    m.cpu.gpr[RCX] = 0x8000123408049000ULL; // upper half ignored, not checked
    m.cpu.gpr[R11] = 0x10246;               // RF is outside the mask 0x3c7fd7
    execute_sysret(m.cpu, false);
    CHECK(m.cpu.rip == 0x08049000);
    CHECK(m.cpu.seg[CS].selector == 0x23);
    CHECK(m.cpu.seg[CS].l == 0);
    CHECK(m.cpu.seg[CS].db == 1);
    CHECK(m.cpu.seg[CS].dpl == 3);
    CHECK(m.cpu.seg[SS].selector == 0x2b);
    CHECK(m.cpu.rflags == 0x246);
}

// SDM vol. 2B, SYSENTER: #GP(0) if IA32_SYSENTER_CS[15:2] is 0; otherwise
// VM, IF and RF cleared (TF and the rest kept), CPL 0 with CS from the MSR
// (RPL cleared) and SS = CS + 8; in IA-32e mode RSP and RIP get the whole
// 64-bit MSRs and CS is 64-bit code, else ESP/EIP their low halves and CS
// 32-bit code. Nothing is saved: every general register but RSP is kept.
TEST_CASE("SYSENTER enters CPL 0 through the SYSENTER MSRs") {
    Machine m;
    m.cpu.gpr[RCX] = 0x1111;
    m.cpu.gpr[RDX] = 0x2222;
    m.cpu.rflags = 0x10202 | (1ULL << 8) | (1ULL << 10);  // RF, IF, TF, DF
    CHECK_THROWS_AS(execute_sysenter(m.cpu), GuestFault); // IA32_SYSENTER_CS is 0
    m.cpu.msr.sysenter_cs = 3;                            // bits 15:2 still 0
    CHECK_THROWS_AS(execute_sysenter(m.cpu), GuestFault);

    m.cpu.msr.sysenter_cs = 0x13; // RPL is dropped
    m.cpu.msr.sysenter_esp = 0xfffffe0000001000ULL;
    m.cpu.msr.sysenter_eip = 0xffffffff81006000ULL;
    const CpuState before = m.cpu;
    execute_sysenter(m.cpu);
    CHECK(m.cpu.rip == 0xffffffff81006000ULL);
    CHECK(m.cpu.gpr[RSP] == 0xfffffe0000001000ULL);
    CHECK(m.cpu.seg[CS].selector == 0x10);
    CHECK(m.cpu.seg[CS].l == 1);
    CHECK(m.cpu.seg[CS].dpl == 0);
    CHECK(m.cpu.seg[SS].selector == 0x18);
    CHECK(m.cpu.rflags == (0x202 & ~0x200ULL) + (1ULL << 8) + (1ULL << 10));
    for (int r = 0; r < kGprCount; ++r) {
        if (r != RSP) {
            CHECK(m.cpu.gpr[r] == before.gpr[r]);
        }
    }

    // Outside IA-32e mode: the MSRs' low halves and a 32-bit CS.
    Machine legacy;
    legacy.cpu.msr.efer = 0;
    legacy.cpu.msr.sysenter_cs = 0x10;
    legacy.cpu.msr.sysenter_esp = 0xfffffe0000001000ULL;
    legacy.cpu.msr.sysenter_eip = 0xffffffffc1006000ULL;
    execute_sysenter(legacy.cpu);
    CHECK(legacy.cpu.rip == 0xc1006000);
    CHECK(legacy.cpu.gpr[RSP] == 0x00001000);
    CHECK(legacy.cpu.seg[CS].l == 0);
    CHECK(legacy.cpu.seg[CS].db == 1);

    // Real mode: #GP(0).
    legacy.cpu.cr0 = 0x10;
    CHECK_THROWS_AS(execute_sysenter(legacy.cpu), GuestFault);
}

// SDM vol. 2B, SYSEXIT: #GP(0) at CPL != 0 or with IA32_SYSENTER_CS[15:2]
// 0; with REX.W CS = IA32_SYSENTER_CS + 32, RIP = RDX and RSP = RCX (#GP(0)
// if either is not canonical), without it CS = IA32_SYSENTER_CS + 16 and
// their low halves; SS = CS + 8, RPL 3 on both.
TEST_CASE("SYSEXIT returns to CPL 3 at RDX with the stack at RCX") {
    Machine m;
    m.cpu.msr.sysenter_cs = 0x10;
    m.cpu.gpr[RCX] = 0x7ffc0000;
    m.cpu.gpr[RDX] = 0x401000;
    CHECK_THROWS_AS(execute_sysexit(m.cpu, true), GuestFault); // from CPL 3

    auto kernel = [](Machine& k) {
        k.cpu.seg[CS] = unpack_descriptor(0x00af9b000000ffffULL, 0, false);
        k.cpu.seg[CS].selector = 0x10;
    };
    kernel(m);
    m.cpu.gpr[RDX] = 0x0000800000000000ULL;
    CHECK_THROWS_AS(execute_sysexit(m.cpu, true), GuestFault); // non-canonical RDX
    m.cpu.gpr[RDX] = 0x401000;
    m.cpu.rflags = 0x246;
    execute_sysexit(m.cpu, true);
    CHECK(m.cpu.rip == 0x401000);
    CHECK(m.cpu.gpr[RSP] == 0x7ffc0000);
    CHECK(m.cpu.seg[CS].selector == 0x33);
    CHECK(m.cpu.seg[CS].l == 1);
    CHECK(m.cpu.seg[CS].dpl == 3);
    CHECK(m.cpu.seg[SS].selector == 0x3b);
    CHECK(m.cpu.rflags == 0x246);

    kernel(m);
    m.cpu.gpr[RCX] = 0xabcd00000000ff00ULL;
    m.cpu.gpr[RDX] = 0x1234000008049000ULL;
    execute_sysexit(m.cpu, false);
    CHECK(m.cpu.rip == 0x08049000);
    CHECK(m.cpu.gpr[RSP] == 0x0000ff00);
    CHECK(m.cpu.seg[CS].selector == 0x23);
    CHECK(m.cpu.seg[CS].l == 0);
    CHECK(m.cpu.seg[CS].db == 1);
    CHECK(m.cpu.seg[SS].selector == 0x2b);

    kernel(m);
    m.cpu.msr.sysenter_cs = 0;
    CHECK_THROWS_AS(execute_sysexit(m.cpu, false), GuestFault);
}

TEST_CASE("loading data segments checks privilege and allows null selectors") {
    Machine m;
    CHECK_THROWS_AS(load_data_segment(m.cpu, m.mem, DS, 0x18), GuestFault); // DPL 0 from CPL 3
    load_data_segment(m.cpu, m.mem, DS, 0x2b);
    CHECK(m.cpu.seg[DS].selector == 0x2b);
    load_data_segment(m.cpu, m.mem, ES, 0);
    CHECK(m.cpu.seg[ES].unusable == 1);
    // Intel clears FS's and GS's base with a null selector (AMD keeps it).
    m.cpu.seg[GS].base = 0x7f0012345000ULL;
    load_data_segment(m.cpu, m.mem, GS, 0);
    CHECK(m.cpu.seg[GS].unusable == 1);
    CHECK(m.cpu.seg[GS].base == 0);
    CHECK_THROWS_AS(load_data_segment(m.cpu, m.mem, SS, 0), GuestFault);    // null SS at CPL 3
    CHECK_THROWS_AS(load_data_segment(m.cpu, m.mem, DS, 0x78), GuestFault); // beyond the GDT
}

// The RF bit of the RFLAGS image (Intel SDM vol. 3, "Instruction-Breakpoint
// Exception Condition"): set for every fault-class exception, and for an
// interrupt between iterations of a REP string instruction; as it is for
// traps, aborts and interrupts between instructions.
namespace {

constexpr uint64_t kRfFlag = 1ULL << 16;

// The RFLAGS image of the frame just pushed (kernel to kernel: no stack
// switch is needed for the offsets, only whether there is an error code).
uint64_t pushed_rflags_image(Machine& m, bool has_error_code) {
    return m.get64(m.cpu.gpr[RSP] + (has_error_code ? 8 : 0) + 16);
}

} // namespace

TEST_CASE("faults push RF = 1; the CPU's RF is cleared on entry to the handler") {
    const GuestFault faults[] = {
        GuestFault::pf(0x1000, kPfUser),
        GuestFault::gp(0),
        GuestFault::ud(),
        GuestFault::de(),
        GuestFault::ss(0),
        GuestFault{kDeviceNotAvailable, false, 0, 0},
        GuestFault{kInvalidTss, true, 0x40, 0},
        GuestFault{kSegmentNotPresent, true, 0x18, 0},
        GuestFault{kAlignmentCheck, true, 0, 0},
        GuestFault{kX87Error, false, 0, 0},
        GuestFault{kSimdError, false, 0, 0},
        GuestFault{kBoundRange, false, 0, 0},
    };
    for (const GuestFault& fault : faults) {
        CAPTURE(int(fault.vector));
        Machine m;
        m.cpu.rflags = 0x202;
        m.gate(fault.vector, 0xffffffff81000000ULL);
        REQUIRE(deliver_event(m.cpu, m.mem, exception_event(fault)) == DeliveryOutcome::Delivered);
        CHECK(pushed_rflags_image(m, fault.has_error_code) == (0x202 | kRfFlag));
        CHECK((m.cpu.rflags & kRfFlag) == 0);
    }
}

TEST_CASE("traps (INT3, INT n, INTO, INT1) push RF as it is") {
    struct Trap {
        uint8_t vector;
        EventKind kind;
    };
    for (Trap trap :
         {Trap{kBreakpoint, EventKind::SoftwareException}, Trap{0x80, EventKind::SoftwareInterrupt},
          Trap{kDebug, EventKind::Exception}, Trap{kOverflow, EventKind::SoftwareException}}) {
        CAPTURE(int(trap.vector));
        Machine m;
        m.cpu.rflags = 0x202;
        m.gate(trap.vector, 0xffffffff81000000ULL, 0, 0xe, 3);
        REQUIRE(deliver_event(m.cpu, m.mem, Event{trap.vector, trap.kind}) ==
                DeliveryOutcome::Delivered);
        CHECK(m.cpu.rip == 0xffffffff81000000ULL);
        CHECK(pushed_rflags_image(m, false) == 0x202);
    }
}

TEST_CASE("an abort (#DF) pushes RF as it is") {
    Machine m;
    m.cpu.rflags = 0x202;
    m.gate(kPageFault, 0xffffffff81000000ULL, 0, 0xe, 0, false); // not present: #NP, then #DF
    m.gate(kDoubleFault, 0xffffffff81004000ULL, 1);
    REQUIRE(deliver_event(m.cpu, m.mem, exception_event(GuestFault::pf(0x1000, 0))) ==
            DeliveryOutcome::Delivered);
    REQUIRE(m.cpu.rip == 0xffffffff81004000ULL);
    CHECK(pushed_rflags_image(m, true) == 0x202);
}

TEST_CASE("a fault while delivering an interrupt pushes RF = 1") {
    Machine m;
    m.cpu.rflags = 0x202;
    m.gate(0x20, 0xffffffff81000000ULL, 0, 0xe, 0, false); // not present: #NP
    m.gate(kSegmentNotPresent, 0xffffffff81005000ULL);
    REQUIRE(deliver_event(m.cpu, m.mem, Event{0x20, EventKind::ExternalInterrupt}) ==
            DeliveryOutcome::Delivered);
    REQUIRE(m.cpu.rip == 0xffffffff81005000ULL);
    CHECK(pushed_rflags_image(m, true) == (0x202 | kRfFlag));
}

TEST_CASE("an interrupt or NMI pushes RF = 1 only between iterations of a string instruction") {
    for (EventKind kind : {EventKind::ExternalInterrupt, EventKind::Nmi}) {
        const uint8_t vector = kind == EventKind::Nmi ? uint8_t{kNmi} : uint8_t{0x20};
        CAPTURE(int(vector));
        for (bool between : {false, true}) {
            CAPTURE(between);
            Machine m;
            m.cpu.rflags = 0x202;
            m.gate(vector, 0xffffffff81000000ULL);
            Event event{vector, kind};
            event.between_string_iterations = between;
            REQUIRE(deliver_event(m.cpu, m.mem, event) == DeliveryOutcome::Delivered);
            CHECK(pushed_rflags_image(m, false) == (between ? 0x202 | kRfFlag : 0x202));
            CHECK((m.cpu.rflags & kRfFlag) == 0);
        }
    }
}

TEST_CASE("an interrupt taken while RF is set pushes it set") {
    Machine m;
    m.cpu.rflags = 0x202 | kRfFlag; // back from a fault handler, before the instruction completed
    m.gate(0x20, 0xffffffff81000000ULL);
    REQUIRE(deliver_event(m.cpu, m.mem, Event{0x20, EventKind::ExternalInterrupt}) ==
            DeliveryOutcome::Delivered);
    CHECK(pushed_rflags_image(m, false) == (0x202 | kRfFlag));
}
