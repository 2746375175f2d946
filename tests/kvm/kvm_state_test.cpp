// State transfer between CpuState and a real KVM vCPU: a rich state goes in,
// comes back out, and must be the same field by field (both directions).
#include "guest-model/cpuid_table.h"
#include "guest-model/error.h"
#include "recorder/accel/kvm_state.h"
#include "recorder/accel/kvm_vm.h"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <doctest/doctest.h>
#include <memory>
#include <sys/ioctl.h>

using namespace krr;

namespace {

struct KvmFixture {
    KvmVm vm;
    std::unique_ptr<KvmVcpu> vcpu;
    KvmFixture() : vcpu(vm.create_vcpu(0)) { vcpu->set_cpuid(default_cpuid_table(1), 0); }
};

Segment segment(uint16_t selector, uint64_t base, uint32_t limit, uint8_t type, uint8_t s,
                uint8_t dpl, uint8_t l, uint8_t db, uint8_t g, uint8_t avl) {
    Segment seg;
    seg.selector = selector;
    seg.base = base;
    seg.limit = limit;
    seg.type = type;
    seg.s = s;
    seg.dpl = dpl;
    seg.present = 1;
    seg.l = l;
    seg.db = db;
    seg.g = g;
    seg.avl = avl;
    return seg;
}

// A kernel in the middle of its work: long mode, odd but valid attributes,
// every register different.
CpuState rich_state() {
    CpuState cpu;
    for (int i = 0; i < kGprCount; ++i)
        cpu.gpr[i] = 0x0123456789abcdefULL * uint64_t(i + 1) ^ (uint64_t(i) << 56);
    cpu.rip = 0xffffffff81234567ULL;
    cpu.rflags = 0x246 | (1 << 11) | (1 << 10); // IF ZF PF, OF, DF
    cpu.seg[CS] = segment(0x10, 0, 0xffffffff, 0xb, 1, 0, 1, 0, 1, 0);
    cpu.seg[SS] = segment(0x18, 0, 0xffffffff, 0x3, 1, 0, 0, 1, 1, 0);
    // A data segment with a byte-granular limit, the AVL bit and DPL 3.
    cpu.seg[DS] = segment(0x2b, 0x12345000, 0xfffff, 0x3, 1, 3, 0, 1, 0, 1);
    cpu.seg[ES] = segment(0x2b, 0, 0xffffffff, 0x1, 1, 3, 0, 1, 1, 0);
    cpu.seg[FS] = segment(0, 0x00007f1234567000ULL, 0xffffffff, 0x3, 1, 0, 0, 1, 1, 0);
    cpu.seg[GS] = segment(0, 0xffff888012345000ULL, 0xffffffff, 0x3, 1, 0, 0, 1, 1, 0);
    cpu.tr = segment(0x40, 0xfffffe0000003000ULL, 0x4087, 0xb, 0, 0, 0, 0, 0, 0);
    cpu.ldtr = segment(0x50, 0xfffffe0000010000ULL, 0xfff, 0x2, 0, 0, 0, 0, 0, 0);
    cpu.gdtr = {0xfffffe0000001000ULL, 0x7f};
    cpu.idtr = {0xfffffe0000000000ULL, 0xfff};
    cpu.cr0 = 0x80050033; // PG AM WP NE ET MP PE
    cpu.cr2 = 0x7f0012345678ULL;
    cpu.cr3 = 0x1234000;
    cpu.cr4 = 0x6b0; // OSXMMEXCPT OSFXSR PGE PAE PSE
    cpu.cr8 = 5;
    cpu.dr = {0xffffffff81000000ULL, 0x7ffff000ULL, 0x1000, 0xfffffe0000000008ULL};
    cpu.dr6 = 0xffff0ff1;
    cpu.dr7 = 0x000d0402; // L1, RW1 = write, LEN1 = 4 bytes
    ModelSpecificRegisters& m = cpu.msr;
    m.efer = 0xd01; // NXE LMA LME SCE
    m.star = 0x0023001000000000ULL;
    m.lstar = 0xffffffff81a00080ULL;
    m.cstar = 0xffffffff81a001c0ULL;
    m.sfmask = 0x47700;
    m.kernel_gs_base = 0xffff88807fc00000ULL;
    m.sysenter_cs = 0x10;
    m.sysenter_esp = 0xfffffe0000005000ULL;
    m.sysenter_eip = 0xffffffff81a01570ULL;
    m.pat = 0x0007010600070106ULL;
    m.apic_base = 0xfee00900;
    m.misc_enable = 1;
    m.tsc_offset = 0x123456789ULL;
    FpuState& f = cpu.fpu;
    f.fcw = 0x027f;
    f.fsw = 0x3800 | 0x0041; // TOP = 7, stack fault and invalid operation
    f.ftw = 0x81;            // ST0 and ST7 valid: the abridged form
    f.fop = 0x7ff;
    f.fip = 0xffffffff81000123ULL;
    f.fdp = 0x00007fff00001234ULL;
    f.mxcsr = 0xbf80; // FZ, rounding towards minus infinity, all masked
    for (int i = 0; i < 8; ++i)
        for (int b = 0; b < 10; ++b)
            f.st[i][b] = uint8_t(0x11 * i + b);
    for (int i = 0; i < 16; ++i)
        for (int b = 0; b < 16; ++b)
            f.xmm[i][b] = uint8_t(0xa0 + i * 3 + b);
    cpu.events.interrupt_shadow = 1;
    cpu.events.nmi_masked = 1;
    cpu.events.nmi_pending = 0;
    return cpu;
}

void check_segment(const Segment& got, const Segment& want, const char* name) {
    CAPTURE(name);
    CHECK(got.selector == want.selector);
    CHECK(got.base == want.base);
    CHECK(got.limit == want.limit);
    CHECK(got.type == want.type);
    CHECK(got.s == want.s);
    CHECK(got.dpl == want.dpl);
    CHECK(got.present == want.present);
    CHECK(got.avl == want.avl);
    CHECK(got.l == want.l);
    CHECK(got.db == want.db);
    CHECK(got.g == want.g);
    CHECK(got.unusable == want.unusable);
}

// Field by field so a failure names the field; then the whole, which also
// covers anything added to CpuState later.
void check_same(const CpuState& got, const CpuState& want) {
    for (int i = 0; i < kGprCount; ++i) {
        CAPTURE(i);
        CHECK(got.gpr[i] == want.gpr[i]);
    }
    CHECK(got.rip == want.rip);
    CHECK(got.rflags == want.rflags);
    const char* names[] = {"ES", "CS", "SS", "DS", "FS", "GS"};
    for (int i = 0; i < kSegmentCount; ++i)
        check_segment(got.seg[i], want.seg[i], names[i]);
    check_segment(got.tr, want.tr, "TR");
    check_segment(got.ldtr, want.ldtr, "LDTR");
    CHECK(got.gdtr == want.gdtr);
    CHECK(got.idtr == want.idtr);
    CHECK(got.cr0 == want.cr0);
    CHECK(got.cr2 == want.cr2);
    CHECK(got.cr3 == want.cr3);
    CHECK(got.cr4 == want.cr4);
    CHECK(got.cr8 == want.cr8);
    CHECK(got.dr == want.dr);
    CHECK(got.dr6 == want.dr6);
    CHECK(got.dr7 == want.dr7);
    CHECK(got.msr.efer == want.msr.efer);
    CHECK(got.msr.star == want.msr.star);
    CHECK(got.msr.lstar == want.msr.lstar);
    CHECK(got.msr.cstar == want.msr.cstar);
    CHECK(got.msr.sfmask == want.msr.sfmask);
    CHECK(got.msr.kernel_gs_base == want.msr.kernel_gs_base);
    CHECK(got.msr.sysenter_cs == want.msr.sysenter_cs);
    CHECK(got.msr.sysenter_esp == want.msr.sysenter_esp);
    CHECK(got.msr.sysenter_eip == want.msr.sysenter_eip);
    CHECK(got.msr.pat == want.msr.pat);
    CHECK(got.msr.apic_base == want.msr.apic_base);
    CHECK(got.msr.misc_enable == want.msr.misc_enable);
    CHECK(got.msr.tsc_offset == want.msr.tsc_offset);
    CHECK(got.fpu.fcw == want.fpu.fcw);
    CHECK(got.fpu.fsw == want.fpu.fsw);
    CHECK(got.fpu.ftw == want.fpu.ftw);
    CHECK(got.fpu.fop == want.fpu.fop);
    CHECK(got.fpu.fip == want.fpu.fip);
    CHECK(got.fpu.fdp == want.fpu.fdp);
    CHECK(got.fpu.mxcsr == want.fpu.mxcsr);
    CHECK(got.fpu.st == want.fpu.st);
    CHECK(got.fpu.xmm == want.fpu.xmm);
    CHECK(got.events.interrupt_shadow == want.events.interrupt_shadow);
    CHECK(got.events.nmi_pending == want.events.nmi_pending);
    CHECK(got.events.nmi_masked == want.events.nmi_masked);
    CHECK(got.events.halted == want.events.halted);
    CHECK(got == want);
}

// The guest TSC keeps running between setting and reading: the offset read
// back is the one written plus the host time in between (well under five
// seconds at any TSC rate here). Some KVMs (the nested one this project is
// developed on) ignore TSC writes altogether; that is said loudly, and the
// rest of the state is still compared.
void check_tsc_and_align(CpuState& got, const CpuState& want) {
    uint64_t drift = got.msr.tsc_offset - want.msr.tsc_offset;
    if (drift >= 5'000'000'000ULL)
        WARN_MESSAGE(false, "this KVM ignores writes of the guest TSC: docs/kvm.md");
    got.msr.tsc_offset = want.msr.tsc_offset;
}

} // namespace

TEST_CASE("a rich CpuState goes into a KVM vCPU and comes back the same") {
    KvmFixture kvm;
    CpuState want = rich_state();
    write_kvm_state(kvm.vcpu->fd(), want, 1000);
    CpuState got = read_kvm_state(kvm.vcpu->fd(), 1000);
    check_tsc_and_align(got, want);
    check_same(got, want);
}

TEST_CASE("edge values survive the trip") {
    KvmFixture kvm;
    CpuState want = rich_state();
    SUBCASE("no x87 register valid, shadow after MOV SS (IF clear), NMI pending") {
        want.fpu.ftw = 0x00;
        want.fpu.fsw = 0;
        want.rflags = 0x2;
        want.events.interrupt_shadow = 1;
        want.events.nmi_pending = 1;
        want.events.nmi_masked = 0;
    }
    SUBCASE("every x87 register valid, no shadow") {
        want.fpu.ftw = 0xff;
        want.events.interrupt_shadow = 0;
    }
    SUBCASE("an alternating tag word, conforming readable code, expand-down data") {
        want.fpu.ftw = 0x5a;
        want.seg[CS].type = 0xf; // code, conforming, readable, accessed
        want.seg[DS].type = 0x7; // data, expand-down, writable, accessed
        want.seg[DS].limit = 0xfff;
        want.seg[ES] = segment(0x23, 0xffffffff, 0xffffffff, 0x3, 1, 3, 0, 1, 1, 1);
        want.cr8 = 15;
        want.dr7 = 0xffff0700; // every breakpoint's RW/LEN bits, GE LE, none enabled
        want.dr6 = 0xfffe0ff0; // BLD clear (bus-lock detection reported)
    }
    SUBCASE("a legacy 32-bit TSS and an LDT at the top of memory") {
        want.tr.type = 0x3; // busy 16-bit TSS
        want.ldtr.base = 0xfffffffffffff000ULL;
        want.ldtr.limit = 0xffff;
    }
    write_kvm_state(kvm.vcpu->fd(), want, 0);
    CpuState got = read_kvm_state(kvm.vcpu->fd(), 0);
    check_tsc_and_align(got, want);
    check_same(got, want);
}

TEST_CASE("null data segments of 64-bit code survive the trip") {
    KvmFixture kvm;
    CpuState want = rich_state();
    want.seg[ES] = segment(0, 0, 0, 0x3, 1, 0, 0, 1, 0, 0);
    want.seg[ES].unusable = 1;
    want.seg[DS] = want.seg[ES];
    want.seg[DS].present = 0;
    want.seg[DS].type = 0;
    write_kvm_state(kvm.vcpu->fd(), want, 0);
    CpuState got = read_kvm_state(kvm.vcpu->fd(), 0);
    check_tsc_and_align(got, want);
    check_segment(got.seg[ES], want.seg[ES], "ES");
    check_segment(got.seg[DS], want.seg[DS], "DS");
    check_segment(got.seg[CS], want.seg[CS], "CS");
}

TEST_CASE("the TSC travels as the virtual clock plus the guest's offset") {
    CpuState cpu = rich_state();
    cpu.msr.tsc_offset = 1000;
    KvmCpuRegisters k = to_kvm(cpu, 5'000'000);
    REQUIRE(k.msrs.front().index == 0x10);
    CHECK(k.msrs.front().data == 5'001'000);
    k.msrs.front().data = 7'000'000;
    CHECK(from_kvm(k, 6'000'000).msr.tsc_offset == 1'000'000);
    // A guest TSC behind the virtual clock is a negative offset, modulo 2^64.
    CHECK(from_kvm(k, 8'000'000).msr.tsc_offset == uint64_t(-1'000'000));
}

TEST_CASE("the x87 and SSE state goes through XSAVE's legacy area") {
    CpuState cpu = rich_state();
    KvmCpuRegisters k = to_kvm(cpu, 0);
    const uint8_t* area = k.xsave.bytes;
    CHECK(area[0] == 0x7f); // FCW
    CHECK(area[1] == 0x02);
    CHECK(area[4] == 0x81);  // abridged tag word
    CHECK(area[24] == 0x80); // MXCSR
    CHECK(area[25] == 0xbf);
    CHECK(area[32] == cpu.fpu.st[0][0]);
    CHECK(area[160 + 16 * 15 + 15] == cpu.fpu.xmm[15][15]);
    CHECK(area[512] == 3); // XSTATE_BV: x87 and SSE present
    // Components XSAVE reports in their initial state read as that state.
    k.xsave.bytes[512] = 0;
    FpuState initial = from_kvm(k, 0).fpu;
    CHECK(initial.fcw == 0x37f);
    CHECK(initial.ftw == 0);
    CHECK(initial.st == FpuState{}.st);
    CHECK(initial.xmm == FpuState{}.xmm);
    CHECK(initial.mxcsr == cpu.fpu.mxcsr);
}

TEST_CASE("KVM's own state converts to CpuState and back to the same structures") {
    KvmFixture kvm;
    // Put a state in through KVM's structures directly, then read what KVM
    // made of it: that is the KVM-side truth to convert.
    KvmCpuRegisters in = to_kvm(rich_state(), 0);
    in.xsave.bytes[4] = 0x3c; // abridged tag word
    in.xsave.bytes[3] = 0x20; // FSW: TOP = 4
    in.sregs.cr2 = 0xffffc90000001234ULL;
    in.regs.rflags = 0x10202; // RF IF
    in.events.interrupt.shadow = KVM_X86_SHADOW_INT_STI;
    write_kvm_registers(kvm.vcpu->fd(), in);
    KvmCpuRegisters kvm_side = read_kvm_registers(kvm.vcpu->fd());
    KvmCpuRegisters back = to_kvm(from_kvm(kvm_side, 77), 77);

    CHECK(std::memcmp(&back.regs, &kvm_side.regs, sizeof back.regs) == 0);
    const kvm_sregs& a = back.sregs;
    const kvm_sregs& b = kvm_side.sregs;
    const kvm_segment* as[] = {&a.cs, &a.ds, &a.es, &a.fs, &a.gs, &a.ss, &a.tr, &a.ldt};
    const kvm_segment* bs[] = {&b.cs, &b.ds, &b.es, &b.fs, &b.gs, &b.ss, &b.tr, &b.ldt};
    for (int i = 0; i < 8; ++i) {
        CAPTURE(i);
        CHECK(as[i]->base == bs[i]->base);
        CHECK(as[i]->limit == bs[i]->limit);
        CHECK(as[i]->selector == bs[i]->selector);
        CHECK(as[i]->type == bs[i]->type);
        CHECK(as[i]->present == bs[i]->present);
        CHECK(as[i]->dpl == bs[i]->dpl);
        CHECK(as[i]->db == bs[i]->db);
        CHECK(as[i]->s == bs[i]->s);
        CHECK(as[i]->l == bs[i]->l);
        CHECK(as[i]->g == bs[i]->g);
        CHECK(as[i]->avl == bs[i]->avl);
        CHECK(as[i]->unusable == bs[i]->unusable);
    }
    CHECK(a.gdt.base == b.gdt.base);
    CHECK(a.gdt.limit == b.gdt.limit);
    CHECK(a.idt.base == b.idt.base);
    CHECK(a.idt.limit == b.idt.limit);
    CHECK(a.cr0 == b.cr0);
    CHECK(a.cr2 == b.cr2);
    CHECK(a.cr3 == b.cr3);
    CHECK(a.cr4 == b.cr4);
    CHECK(a.cr8 == b.cr8);
    CHECK(a.efer == b.efer);
    CHECK(a.apic_base == b.apic_base);
    // The legacy area up to the XMM registers' end, MXCSR_MASK (which
    // CpuState does not keep) aside, and XSTATE_BV.
    CHECK(std::memcmp(back.xsave.bytes, kvm_side.xsave.bytes, 28) == 0);
    CHECK(std::memcmp(back.xsave.bytes + 32, kvm_side.xsave.bytes + 32, 416 - 32) == 0);
    CHECK(back.xsave.bytes[512] == kvm_side.xsave.bytes[512]);
    CHECK(back.xsave.bytes[4] == 0x3c);
    CHECK(back.xsave.bytes[3] == 0x20);
    CHECK(std::memcmp(back.debug.db, kvm_side.debug.db, sizeof back.debug.db) == 0);
    CHECK(back.debug.dr6 == kvm_side.debug.dr6);
    CHECK(back.debug.dr7 == kvm_side.debug.dr7);
    CHECK(back.events.interrupt.shadow == KVM_X86_SHADOW_INT_STI);
    CHECK(back.events.nmi.pending == kvm_side.events.nmi.pending);
    CHECK(back.events.nmi.masked == kvm_side.events.nmi.masked);
    REQUIRE(back.msrs.size() == kvm_side.msrs.size());
    for (size_t i = 0; i < back.msrs.size(); ++i) {
        CAPTURE(back.msrs[i].index);
        // MSR 0x10 included: from_kvm and to_kvm take the same clock.
        CHECK(back.msrs[i].index == kvm_side.msrs[i].index);
        CHECK(back.msrs[i].data == kvm_side.msrs[i].data);
    }
}

TEST_CASE("without an in-kernel local APIC a halted vCPU is the backend's to keep") {
    // Why events.halted does not go through KVM_SET_MP_STATE: KVM refuses
    // every state but RUNNABLE when the local APIC is in user space.
    KvmFixture kvm;
    kvm_mp_state halted{KVM_MP_STATE_HALTED};
    CHECK(ioctl(kvm.vcpu->fd(), KVM_SET_MP_STATE, &halted) == -1);
    CHECK(errno == EINVAL);
    kvm_mp_state state{};
    REQUIRE(ioctl(kvm.vcpu->fd(), KVM_GET_MP_STATE, &state) == 0);
    CHECK(state.mp_state == KVM_MP_STATE_RUNNABLE);
    CpuState cpu = rich_state();
    cpu.events.halted = 1;
    write_kvm_state(kvm.vcpu->fd(), cpu, 0);
    CHECK(read_kvm_state(kvm.vcpu->fd(), 0).events.halted == 0);
}

TEST_CASE("a value KVM refuses is reported, not ignored") {
    KvmFixture kvm;
    CpuState cpu = rich_state();
    cpu.cr4 |= 1ULL << 40; // reserved
    CHECK_THROWS_WITH_AS(write_kvm_state(kvm.vcpu->fd(), cpu, 0),
                         doctest::Contains("control registers"), Error);
}

TEST_CASE("a missing KVM device is reported with its reason (what the skip prints)") {
    auto reason = KvmVm::unavailable_reason("/nonexistent/kvm");
    REQUIRE(reason.has_value());
    CHECK(reason->find("opening /nonexistent/kvm") != std::string::npos);
    CHECK_THROWS_AS(KvmVm("/dev/null"), Error);
}
