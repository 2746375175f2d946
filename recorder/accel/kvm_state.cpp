#include "recorder/accel/kvm_state.h"

#include "guest-model/error.h"
#include "recorder/accel/kvm_vm.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <sys/ioctl.h>

namespace krr {

namespace {

constexpr uint32_t kMsrTsc = 0x10;
constexpr uint32_t kMsrSysenterCs = 0x174;
constexpr uint32_t kMsrSysenterEsp = 0x175;
constexpr uint32_t kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrMiscEnable = 0x1a0;
constexpr uint32_t kMsrPat = 0x277;
constexpr uint32_t kMsrStar = 0xc0000081;
constexpr uint32_t kMsrLstar = 0xc0000082;
constexpr uint32_t kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSfmask = 0xc0000084;
constexpr uint32_t kMsrKernelGsBase = 0xc0000102;

constexpr uint64_t kRflagsIf = 1ULL << 9;

kvm_segment to_kvm(const Segment& s) {
    kvm_segment k{};
    k.base = s.base;
    k.limit = s.limit;
    k.selector = s.selector;
    k.type = s.type;
    k.present = s.present;
    k.dpl = s.dpl;
    k.db = s.db;
    k.s = s.s;
    k.l = s.l;
    k.g = s.g;
    k.avl = s.avl;
    k.unusable = s.unusable;
    return k;
}

Segment from_kvm(const kvm_segment& k) {
    Segment s;
    s.base = k.base;
    s.limit = k.limit;
    s.selector = k.selector;
    s.type = k.type;
    s.present = k.present;
    s.dpl = k.dpl;
    s.db = k.db;
    s.s = k.s;
    s.l = k.l;
    s.g = k.g;
    s.avl = k.avl;
    s.unusable = k.unusable;
    return s;
}

kvm_segment& kvm_segment_of(kvm_sregs& s, int index) {
    switch (index) {
    case ES:
        return s.es;
    case CS:
        return s.cs;
    case SS:
        return s.ss;
    case DS:
        return s.ds;
    case FS:
        return s.fs;
    default:
        return s.gs;
    }
}

const kvm_segment& kvm_segment_of(const kvm_sregs& s, int index) {
    return kvm_segment_of(const_cast<kvm_sregs&>(s), index);
}

// The XSAVE legacy area (as FXSAVE64 lays it out) and header.
constexpr size_t kFcw = 0, kFsw = 2, kFtw = 4, kFop = 6, kFip = 8, kFdp = 16, kMxcsr = 24,
                 kMxcsrMask = 28, kSt = 32, kXmm = 160, kXstateBv = 512;
constexpr uint64_t kXstateFpSse = 0x3;
constexpr uint32_t kMxcsrMaskAll = 0xffff;

template <typename T>
void put(KvmXsaveArea& area, size_t offset, T value) {
    std::memcpy(area.bytes + offset, &value, sizeof value);
}

template <typename T>
T get(const KvmXsaveArea& area, size_t offset) {
    T value;
    std::memcpy(&value, area.bytes + offset, sizeof value);
    return value;
}

void put_fpu(KvmXsaveArea& area, const FpuState& fpu) {
    put(area, kFcw, fpu.fcw);
    put(area, kFsw, fpu.fsw);
    // FXSAVE's abridged tag word (one bit per register), as CpuState keeps
    // it, not the x87 FSTENV two-bit form.
    put(area, kFtw, fpu.ftw);
    put(area, kFop, fpu.fop);
    put(area, kFip, fpu.fip);
    put(area, kFdp, fpu.fdp);
    put(area, kMxcsr, fpu.mxcsr);
    put(area, kMxcsrMask, kMxcsrMaskAll);
    for (int i = 0; i < 8; ++i)
        std::memcpy(area.bytes + kSt + 16 * i, fpu.st[i].data(), 16);
    for (int i = 0; i < 16; ++i)
        std::memcpy(area.bytes + kXmm + 16 * i, fpu.xmm[i].data(), 16);
    // Both components present: with a bit clear XRSTOR would load that
    // component's initial state instead of these bytes.
    put(area, kXstateBv, kXstateFpSse);
}

FpuState get_fpu(const KvmXsaveArea& area) {
    FpuState fpu;
    fpu.fcw = get<uint16_t>(area, kFcw);
    fpu.fsw = get<uint16_t>(area, kFsw);
    fpu.ftw = get<uint8_t>(area, kFtw);
    fpu.fop = get<uint16_t>(area, kFop);
    fpu.fip = get<uint64_t>(area, kFip);
    fpu.fdp = get<uint64_t>(area, kFdp);
    fpu.mxcsr = get<uint32_t>(area, kMxcsr);
    for (int i = 0; i < 8; ++i)
        std::memcpy(fpu.st[i].data(), area.bytes + kSt + 16 * i, 16);
    for (int i = 0; i < 16; ++i)
        std::memcpy(fpu.xmm[i].data(), area.bytes + kXmm + 16 * i, 16);
    uint64_t present = get<uint64_t>(area, kXstateBv);
    // A component XSAVE found in its initial state is not written out:
    // what the CPU holds then is that initial state.
    if (!(present & 1)) {
        FpuState initial;
        fpu.fcw = initial.fcw;
        fpu.fsw = 0;
        fpu.ftw = 0;
        fpu.fop = 0;
        fpu.fip = 0;
        fpu.fdp = 0;
        fpu.st = {};
    }
    if (!(present & 2))
        fpu.xmm = {};
    return fpu;
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

const std::vector<uint32_t>& kvm_transferred_msrs() {
    static const std::vector<uint32_t> msrs = {
        kMsrTsc,  kMsrSysenterCs, kMsrSysenterEsp, kMsrSysenterEip, kMsrMiscEnable,   kMsrPat,
        kMsrStar, kMsrLstar,      kMsrCstar,       kMsrSfmask,      kMsrKernelGsBase,
    };
    return msrs;
}

KvmCpuRegisters to_kvm(const CpuState& cpu, uint64_t virtual_tsc) {
    KvmCpuRegisters k;
    kvm_regs& r = k.regs;
    r.rax = cpu.gpr[RAX];
    r.rcx = cpu.gpr[RCX];
    r.rdx = cpu.gpr[RDX];
    r.rbx = cpu.gpr[RBX];
    r.rsp = cpu.gpr[RSP];
    r.rbp = cpu.gpr[RBP];
    r.rsi = cpu.gpr[RSI];
    r.rdi = cpu.gpr[RDI];
    r.r8 = cpu.gpr[R8];
    r.r9 = cpu.gpr[R9];
    r.r10 = cpu.gpr[R10];
    r.r11 = cpu.gpr[R11];
    r.r12 = cpu.gpr[R12];
    r.r13 = cpu.gpr[R13];
    r.r14 = cpu.gpr[R14];
    r.r15 = cpu.gpr[R15];
    r.rip = cpu.rip;
    r.rflags = cpu.rflags;

    kvm_sregs& s = k.sregs;
    for (int i = 0; i < kSegmentCount; ++i)
        kvm_segment_of(s, i) = to_kvm(cpu.seg[i]);
    s.tr = to_kvm(cpu.tr);
    s.ldt = to_kvm(cpu.ldtr);
    s.gdt.base = cpu.gdtr.base;
    s.gdt.limit = cpu.gdtr.limit;
    s.idt.base = cpu.idtr.base;
    s.idt.limit = cpu.idtr.limit;
    s.cr0 = cpu.cr0;
    s.cr2 = cpu.cr2;
    s.cr3 = cpu.cr3;
    s.cr4 = cpu.cr4;
    s.cr8 = cpu.cr8;
    s.efer = cpu.msr.efer;
    s.apic_base = cpu.msr.apic_base;
    // interrupt_bitmap stays zero: a set bit would queue an interrupt.

    put_fpu(k.xsave, cpu.fpu);

    for (int i = 0; i < 4; ++i)
        k.debug.db[i] = cpu.dr[i];
    k.debug.dr6 = cpu.dr6;
    k.debug.dr7 = cpu.dr7;

    kvm_vcpu_events& e = k.events;
    e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    if (cpu.events.interrupt_shadow)
        e.interrupt.shadow =
            (cpu.rflags & kRflagsIf) ? KVM_X86_SHADOW_INT_STI : KVM_X86_SHADOW_INT_MOV_SS;
    e.nmi.pending = cpu.events.nmi_pending;
    e.nmi.masked = cpu.events.nmi_masked;

    const ModelSpecificRegisters& m = cpu.msr;
    for (uint32_t index : kvm_transferred_msrs()) {
        uint64_t value = 0;
        switch (index) {
        case kMsrTsc:
            value = virtual_tsc + m.tsc_offset;
            break;
        case kMsrSysenterCs:
            value = m.sysenter_cs;
            break;
        case kMsrSysenterEsp:
            value = m.sysenter_esp;
            break;
        case kMsrSysenterEip:
            value = m.sysenter_eip;
            break;
        case kMsrMiscEnable:
            value = m.misc_enable;
            break;
        case kMsrPat:
            value = m.pat;
            break;
        case kMsrStar:
            value = m.star;
            break;
        case kMsrLstar:
            value = m.lstar;
            break;
        case kMsrCstar:
            value = m.cstar;
            break;
        case kMsrSfmask:
            value = m.sfmask;
            break;
        case kMsrKernelGsBase:
            value = m.kernel_gs_base;
            break;
        }
        k.msrs.push_back(kvm_msr_entry{index, 0, value});
    }
    return k;
}

CpuState from_kvm(const KvmCpuRegisters& k, uint64_t virtual_tsc) {
    CpuState cpu;
    const kvm_regs& r = k.regs;
    cpu.gpr[RAX] = r.rax;
    cpu.gpr[RCX] = r.rcx;
    cpu.gpr[RDX] = r.rdx;
    cpu.gpr[RBX] = r.rbx;
    cpu.gpr[RSP] = r.rsp;
    cpu.gpr[RBP] = r.rbp;
    cpu.gpr[RSI] = r.rsi;
    cpu.gpr[RDI] = r.rdi;
    cpu.gpr[R8] = r.r8;
    cpu.gpr[R9] = r.r9;
    cpu.gpr[R10] = r.r10;
    cpu.gpr[R11] = r.r11;
    cpu.gpr[R12] = r.r12;
    cpu.gpr[R13] = r.r13;
    cpu.gpr[R14] = r.r14;
    cpu.gpr[R15] = r.r15;
    cpu.rip = r.rip;
    cpu.rflags = r.rflags;

    const kvm_sregs& s = k.sregs;
    for (int i = 0; i < kSegmentCount; ++i)
        cpu.seg[i] = from_kvm(kvm_segment_of(s, i));
    cpu.tr = from_kvm(s.tr);
    cpu.ldtr = from_kvm(s.ldt);
    cpu.gdtr = {s.gdt.base, s.gdt.limit};
    cpu.idtr = {s.idt.base, s.idt.limit};
    cpu.cr0 = s.cr0;
    cpu.cr2 = s.cr2;
    cpu.cr3 = s.cr3;
    cpu.cr4 = s.cr4;
    cpu.cr8 = s.cr8;
    cpu.msr.efer = s.efer;
    cpu.msr.apic_base = s.apic_base;

    cpu.fpu = get_fpu(k.xsave);

    for (int i = 0; i < 4; ++i)
        cpu.dr[i] = k.debug.db[i];
    cpu.dr6 = k.debug.dr6;
    cpu.dr7 = k.debug.dr7;

    cpu.events.interrupt_shadow = k.events.interrupt.shadow ? 1 : 0;
    cpu.events.nmi_pending = k.events.nmi.pending;
    cpu.events.nmi_masked = k.events.nmi.masked;
    cpu.events.halted = 0;

    ModelSpecificRegisters& m = cpu.msr;
    for (const kvm_msr_entry& e : k.msrs) {
        switch (e.index) {
        case kMsrTsc:
            m.tsc_offset = e.data - virtual_tsc;
            break;
        case kMsrSysenterCs:
            m.sysenter_cs = e.data;
            break;
        case kMsrSysenterEsp:
            m.sysenter_esp = e.data;
            break;
        case kMsrSysenterEip:
            m.sysenter_eip = e.data;
            break;
        case kMsrMiscEnable:
            m.misc_enable = e.data;
            break;
        case kMsrPat:
            m.pat = e.data;
            break;
        case kMsrStar:
            m.star = e.data;
            break;
        case kMsrLstar:
            m.lstar = e.data;
            break;
        case kMsrCstar:
            m.cstar = e.data;
            break;
        case kMsrSfmask:
            m.sfmask = e.data;
            break;
        case kMsrKernelGsBase:
            m.kernel_gs_base = e.data;
            break;
        }
    }
    return cpu;
}

void write_kvm_registers(int vcpu_fd, const KvmCpuRegisters& k) {
    // Control registers and EFER first: KVM judges the segments and MSRs
    // against the mode they set.
    kvm_ioctl(vcpu_fd, KVM_SET_SREGS, &k.sregs, "setting segment and control registers");
    kvm_ioctl(vcpu_fd, KVM_SET_REGS, &k.regs, "setting general registers");
    kvm_ioctl(vcpu_fd, kKvmSetXsave, &k.xsave, "setting the x87 and SSE state");
    kvm_ioctl(vcpu_fd, KVM_SET_DEBUGREGS, &k.debug, "setting debug registers");
    kvm_ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &k.events, "setting pending events");
    std::vector<uint8_t> buffer = kvm_array_buffer(k.msrs);
    int set = kvm_ioctl(vcpu_fd, kKvmSetMsrs, buffer.data(), "setting MSRs");
    if (set != int(k.msrs.size()))
        throw Error("KVM: setting MSRs", "MSR " + hex(k.msrs[size_t(set)].index) + " = " +
                                             hex(k.msrs[size_t(set)].data) + " was refused");
}

KvmCpuRegisters read_kvm_registers(int vcpu_fd) {
    KvmCpuRegisters k;
    kvm_ioctl(vcpu_fd, KVM_GET_REGS, &k.regs, "reading general registers");
    kvm_ioctl(vcpu_fd, KVM_GET_SREGS, &k.sregs, "reading segment and control registers");
    kvm_ioctl(vcpu_fd, kKvmGetXsave, &k.xsave, "reading the x87 and SSE state");
    kvm_ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &k.debug, "reading debug registers");
    kvm_ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &k.events, "reading pending events");
    for (uint32_t index : kvm_transferred_msrs())
        k.msrs.push_back(kvm_msr_entry{index, 0, 0});
    std::vector<uint8_t> buffer = kvm_array_buffer(k.msrs);
    int got = kvm_ioctl(vcpu_fd, kKvmGetMsrs, buffer.data(), "reading MSRs");
    if (got != int(k.msrs.size()))
        throw Error("KVM: reading MSRs", "MSR " + hex(k.msrs[size_t(got)].index) + " was refused");
    std::memcpy(k.msrs.data(), buffer.data() + kKvmArrayHeader,
                k.msrs.size() * sizeof(kvm_msr_entry));
    return k;
}

void write_kvm_state(int vcpu_fd, const CpuState& cpu, uint64_t virtual_tsc) {
    write_kvm_registers(vcpu_fd, to_kvm(cpu, virtual_tsc));
}

bool event_in_flight(const kvm_vcpu_events& events) {
    return events.exception.injected || events.exception.pending || events.interrupt.injected ||
           events.nmi.injected;
}

bool event_in_flight(int vcpu_fd) {
    kvm_vcpu_events events{};
    kvm_ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &events, "reading pending events");
    return event_in_flight(events);
}

CpuState read_kvm_state(int vcpu_fd, uint64_t virtual_tsc) {
    KvmCpuRegisters k = read_kvm_registers(vcpu_fd);
    if (event_in_flight(k.events))
        throw Error("KVM: reading the vCPU state",
                    "an event is being delivered (exception " +
                        std::to_string(k.events.exception.nr) + " injected/pending " +
                        std::to_string(k.events.exception.injected) + "/" +
                        std::to_string(k.events.exception.pending) + ", interrupt " +
                        std::to_string(k.events.interrupt.nr) + " injected " +
                        std::to_string(k.events.interrupt.injected) +
                        "); the machine state has no place for it");
    for (size_t i = 0; i < sizeof k.sregs.interrupt_bitmap / sizeof k.sregs.interrupt_bitmap[0];
         ++i)
        if (k.sregs.interrupt_bitmap[i])
            throw Error("KVM: reading the vCPU state", "an interrupt is queued for injection");
    return from_kvm(k, virtual_tsc);
}

} // namespace krr
