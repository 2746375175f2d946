#include "replay-engine/system/control_transfer.h"

#include "replay-engine/system/descriptor_tables.h"
#include "replay-engine/system/segment_load.h"

namespace krr {

namespace {

constexpr uint64_t kCf = 1, kTf = 1ULL << 8, kIf = 1ULL << 9, kIopl = 3ULL << 12, kNt = 1ULL << 14,
                   kRf = 1ULL << 16, kVm = 1ULL << 17, kAc = 1ULL << 18, kVif = 1ULL << 19,
                   kVip = 1ULL << 20, kId = 1ULL << 21;
constexpr uint64_t kCr0Pe = 1, kEferLma = 1ULL << 10;
// The flags that exist on this CPU (bit 1 always reads as 1).
constexpr uint64_t kDefinedFlags = kCf | (1ULL << 2) | (1ULL << 4) | (1ULL << 6) | (1ULL << 7) |
                                   kTf | kIf | (1ULL << 10) | (1ULL << 11) | kIopl | kNt | kRf |
                                   kVm | kAc | kVif | kVip | kId;

Segment flat_segment(uint16_t selector, uint8_t type, uint8_t dpl, bool code64) {
    Segment s{};
    s.selector = selector;
    s.base = 0;
    s.limit = 0xffffffff;
    s.type = type;
    s.s = 1;
    s.dpl = dpl;
    s.present = 1;
    s.l = code64 ? 1 : 0;
    s.db = code64 ? 0 : 1;
    s.g = 1;
    return s;
}

} // namespace

uint64_t merge_popped_flags(const CpuState& cpu, uint64_t old_flags, uint64_t popped,
                            bool is_iret) {
    const unsigned cpl = current_privilege(cpu);
    const unsigned iopl = (old_flags >> 12) & 3;
    uint64_t changeable = kDefinedFlags & ~(kVm | kVif | kVip | (1ULL << 1));
    if (!is_iret) {
        changeable &= ~kRf; // POPF never sets RF
    }
    if (cpl != 0) {
        changeable &= ~kIopl;
    }
    if (cpl > iopl) {
        changeable &= ~kIf;
    }
    return (old_flags & ~changeable) | (popped & changeable) | 2;
}

void execute_iretq(CpuState& cpu, LinearMemory& memory) {
    const unsigned cpl = current_privilege(cpu);
    const bool user = cpl == 3;
    uint64_t frame[5];
    memory.read_bytes(cpu.gpr[RSP], std::span(reinterpret_cast<uint8_t*>(frame), sizeof frame),
                      user);
    uint64_t new_rip = frame[0];
    uint16_t new_cs = static_cast<uint16_t>(frame[1]);
    uint64_t popped_flags = frame[2];
    uint64_t new_rsp = frame[3];
    uint16_t new_ss = static_cast<uint16_t>(frame[4]);
    if (cpu.rflags & kNt) {
        throw GuestFault::gp(0); // task return does not exist in long mode
    }
    Segment cs = code_segment_for_return(cpu, memory, new_cs);
    if (!cs.l || cs.db) {
        // Returning to 32-bit compatibility mode is not supported by this CPU
        // model yet; refuse it as an invalid target rather than run it wrong.
        throw GuestFault::gp(new_cs & ~3u);
    }
    if (!is_canonical(new_rip)) {
        throw GuestFault::gp(0);
    }
    const unsigned new_cpl = new_cs & 3;
    uint64_t flags = merge_popped_flags(cpu, cpu.rflags, popped_flags, true);
    CpuState next = cpu;
    next.seg[CS] = cs;
    // SS: in 64-bit mode a null SS is allowed when returning to CPL < 3.
    if ((new_ss & ~3u) == 0) {
        if (new_cpl == 3 || (new_ss & 3) != new_cpl) {
            throw GuestFault::gp(0);
        }
        Segment ss{};
        ss.selector = new_ss;
        ss.unusable = 1;
        ss.dpl = static_cast<uint8_t>(new_cpl);
        ss.db = 1;
        next.seg[SS] = ss;
    } else {
        // Load SS with the checks made at the new CPL.
        CpuState at_new_cpl = next;
        load_data_segment(at_new_cpl, memory, SS, new_ss);
        next.seg[SS] = at_new_cpl.seg[SS];
    }
    next.rip = new_rip;
    next.gpr[RSP] = new_rsp;
    next.rflags = flags;
    if (new_cpl > cpl) {
        null_inaccessible_data_segments(next, new_cpl);
    }
    next.events.nmi_masked = 0; // IRET ends NMI blocking
    cpu = next;
}

void execute_syscall(CpuState& cpu) {
    cpu.gpr[RCX] = cpu.rip;
    cpu.gpr[R11] = (cpu.rflags & ~kRf) | 2;
    cpu.rflags = (cpu.rflags & ~(cpu.msr.sfmask | kRf)) | 2;
    uint16_t base = static_cast<uint16_t>((cpu.msr.star >> 32) & 0xfffc);
    cpu.seg[CS] = flat_segment(base, 0xb, 0, true);
    cpu.seg[SS] = flat_segment(static_cast<uint16_t>(base + 8), 0x3, 0, false);
    cpu.rip = cpu.msr.lstar;
}

void execute_sysret(CpuState& cpu, bool to_64bit) {
    if (current_privilege(cpu) != 0) {
        throw GuestFault::gp(0);
    }
    if (to_64bit && !is_canonical(cpu.gpr[RCX])) {
        throw GuestFault::gp(0);
    }
    uint16_t base = static_cast<uint16_t>((cpu.msr.star >> 48) & 0xffff);
    // 64-bit code at STAR[63:48] + 16, compatibility-mode code at STAR[63:48].
    const uint16_t cs = static_cast<uint16_t>((to_64bit ? base + 16 : base) | 3);
    cpu.seg[CS] = flat_segment(cs, 0xb, 3, to_64bit);
    // SS's selector comes from STAR; its cached attributes are fixed.
    cpu.seg[SS] = flat_segment(static_cast<uint16_t>((base + 8) | 3), 0x3, 3, false);
    cpu.rflags = (cpu.gpr[R11] & 0x3c7fd7) | 2;
    cpu.rip = to_64bit ? cpu.gpr[RCX] : cpu.gpr[RCX] & 0xffffffffULL;
}

void execute_sysenter(CpuState& cpu) {
    const uint16_t selector = static_cast<uint16_t>(cpu.msr.sysenter_cs & 0xfffc);
    if (!(cpu.cr0 & kCr0Pe) || (selector & ~3u) == 0) {
        throw GuestFault::gp(0);
    }
    const bool long_mode = (cpu.msr.efer & kEferLma) != 0;
    cpu.rflags &= ~(kVm | kIf | kRf);
    cpu.gpr[RSP] = long_mode ? cpu.msr.sysenter_esp : cpu.msr.sysenter_esp & 0xffffffffULL;
    cpu.rip = long_mode ? cpu.msr.sysenter_eip : cpu.msr.sysenter_eip & 0xffffffffULL;
    cpu.seg[CS] = flat_segment(selector, 0xb, 0, long_mode);
    cpu.seg[SS] = flat_segment(static_cast<uint16_t>(selector + 8), 0x3, 0, false);
}

void execute_sysexit(CpuState& cpu, bool to_64bit) {
    const uint16_t base = static_cast<uint16_t>(cpu.msr.sysenter_cs & 0xffff);
    if (!(cpu.cr0 & kCr0Pe) || (base & 0xfffc) == 0 || current_privilege(cpu) != 0) {
        throw GuestFault::gp(0);
    }
    if (to_64bit && (!is_canonical(cpu.gpr[RCX]) || !is_canonical(cpu.gpr[RDX]))) {
        throw GuestFault::gp(0);
    }
    const uint16_t cs = static_cast<uint16_t>((base + (to_64bit ? 32 : 16)) | 3);
    cpu.gpr[RSP] = to_64bit ? cpu.gpr[RCX] : cpu.gpr[RCX] & 0xffffffffULL;
    cpu.rip = to_64bit ? cpu.gpr[RDX] : cpu.gpr[RDX] & 0xffffffffULL;
    cpu.seg[CS] = flat_segment(cs, 0xb, 3, to_64bit);
    cpu.seg[SS] = flat_segment(static_cast<uint16_t>(cs + 8), 0x3, 3, false);
}

void execute_far_return64(CpuState& cpu, LinearMemory& memory, uint16_t extra_pop) {
    const unsigned cpl = current_privilege(cpu);
    const bool user = cpl == 3;
    uint64_t rsp = cpu.gpr[RSP];
    uint64_t new_rip = memory.read<uint64_t>(rsp, user);
    uint16_t new_cs = static_cast<uint16_t>(memory.read<uint64_t>(rsp + 8, user));
    Segment cs = code_segment_for_return(cpu, memory, new_cs);
    const unsigned new_cpl = new_cs & 3;
    if (!cs.l || cs.db) {
        throw GuestFault::gp(new_cs & ~3u);
    }
    if (!is_canonical(new_rip)) {
        throw GuestFault::gp(0);
    }
    rsp += 16 + extra_pop;
    if (new_cpl == cpl) {
        cpu.seg[CS] = cs;
        cpu.rip = new_rip;
        cpu.gpr[RSP] = rsp;
        return;
    }
    // Return to an outer level: pop RSP and SS too.
    uint64_t new_rsp = memory.read<uint64_t>(rsp, user);
    uint16_t new_ss = static_cast<uint16_t>(memory.read<uint64_t>(rsp + 8, user));
    CpuState next = cpu;
    next.seg[CS] = cs;
    CpuState at_new_cpl = next;
    load_data_segment(at_new_cpl, memory, SS, new_ss);
    next.seg[SS] = at_new_cpl.seg[SS];
    next.rip = new_rip;
    next.gpr[RSP] = new_rsp + extra_pop;
    null_inaccessible_data_segments(next, new_cpl);
    cpu = next;
}

} // namespace krr
