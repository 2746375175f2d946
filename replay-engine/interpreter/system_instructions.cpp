// Privileged and system instructions: HLT, control and debug registers,
// MSRs, CPUID, RDTSC, descriptor-table registers, INVLPG, SWAPGS, SYSCALL/
// SYSRET, software interrupts and IRETQ, port I/O (with the TSS I/O
// permission bitmap), and the hints and fences that do nothing here.
#include "replay-engine/cpu/opcode_table.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/interpreter/io_permission.h"
#include "replay-engine/system/control_registers.h"
#include "replay-engine/system/control_transfer.h"
#include "replay-engine/system/descriptor_tables.h"
#include "replay-engine/system/event_delivery.h"
#include "replay-engine/system/model_specific_registers.h"
#include "replay-engine/system/segment_load.h"

#include <cstring>
#include <optional>
#include <utility>

namespace krr {

namespace {

using cpu::DecodedInstruction;
using cpu::OpcodeId;

constexpr uint64_t kCr0Ts = 1ULL << 3;
constexpr uint64_t kCr4Tsd = 1ULL << 2, kCr4De = 1ULL << 3;
constexpr uint64_t kEferSce = 1ULL << 0;

void require_cpl0(Interpreter& in) {
    if (in.cpl() != 0) {
        throw GuestFault::gp(0);
    }
}

void hlt(Interpreter& in, const DecodedInstruction&) {
    require_cpl0(in);
    in.cpu().events.halted = 1;
}

// A control register this CPU does not have raises #UD even at CPL 3: the
// register check comes before the privilege check.
void require_control_register(uint8_t n) {
    if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8) {
        throw GuestFault::ud();
    }
}

void mov_to_control(Interpreter& in, const DecodedInstruction& insn) {
    require_control_register(insn.operands[0].reg);
    require_cpl0(in);
    CpuState& cpu = in.cpu();
    uint64_t value = cpu.gpr[insn.operands[1].reg];
    switch (insn.operands[0].reg) {
    case 0:
        write_cr0(cpu, in.memory(), value);
        break;
    case 2:
        cpu.cr2 = value;
        break;
    case 3:
        write_cr3(cpu, in.memory(), value);
        break;
    case 4:
        write_cr4(cpu, in.memory(), value);
        break;
    case 8:
        write_cr8(cpu, value);
        break;
    default:
        throw GuestFault::ud();
    }
}

void mov_from_control(Interpreter& in, const DecodedInstruction& insn) {
    require_control_register(insn.operands[1].reg);
    require_cpl0(in);
    CpuState& cpu = in.cpu();
    uint64_t value;
    switch (insn.operands[1].reg) {
    case 0:
        value = cpu.cr0;
        break;
    case 2:
        value = cpu.cr2;
        break;
    case 3:
        value = cpu.cr3;
        break;
    case 4:
        value = cpu.cr4;
        break;
    case 8:
        value = cpu.cr8;
        break;
    default:
        throw GuestFault::ud();
    }
    cpu.gpr[insn.operands[0].reg] = value;
}

// DR4/DR5 alias DR6/DR7 unless CR4.DE (which this CPU does not have).
uint64_t* debug_register(CpuState& cpu, uint8_t n) {
    if (n < 4) {
        return &cpu.dr[n];
    }
    if ((n == 4 || n == 5) && (cpu.cr4 & kCr4De)) {
        throw GuestFault::ud();
    }
    if (n == 4 || n == 6) {
        return &cpu.dr6;
    }
    if (n == 5 || n == 7) {
        return &cpu.dr7;
    }
    throw GuestFault::ud();
}

// DR8-DR15 do not exist: #UD, checked before the privilege level.
void require_debug_register(uint8_t n) {
    if (n > 7) {
        throw GuestFault::ud();
    }
}

void mov_to_debug(Interpreter& in, const DecodedInstruction& insn) {
    uint8_t n = insn.operands[0].reg;
    require_debug_register(n);
    require_cpl0(in);
    CpuState& cpu = in.cpu();
    uint64_t value = cpu.gpr[insn.operands[1].reg];
    if ((n == 6 || n == 7 || n == 4 || n == 5) && (value >> 32)) {
        throw GuestFault::gp(0);
    }
    uint64_t* r = debug_register(cpu, n);
    if (r == &cpu.dr6) {
        value = (value & 0x0000e00fULL) | 0xffff0ff0ULL;
    } else if (r == &cpu.dr7) {
        value = (value & 0xffff2fffULL) | 0x400ULL;
    }
    *r = value;
}

void mov_from_debug(Interpreter& in, const DecodedInstruction& insn) {
    require_debug_register(insn.operands[1].reg);
    require_cpl0(in);
    CpuState& cpu = in.cpu();
    cpu.gpr[insn.operands[0].reg] = *debug_register(cpu, insn.operands[1].reg);
}

void rdmsr(Interpreter& in, const DecodedInstruction&) {
    require_cpl0(in);
    CpuState& cpu = in.cpu();
    uint32_t index = static_cast<uint32_t>(cpu.gpr[RCX]);
    // Only the TSC asks the environment for the time: in a replay whose
    // time comes from the log, that consumes an input.
    uint64_t tsc =
        index == msr::kTsc ? in.environment().virtual_tsc(in.vcpu().instructions_retired) : 0;
    auto v = read_msr(cpu, index, tsc);
    if (!v) {
        throw GuestFault::gp(0);
    }
    cpu.gpr[RAX] = *v & 0xffffffffULL;
    cpu.gpr[RDX] = *v >> 32;
}

void wrmsr(Interpreter& in, const DecodedInstruction&) {
    require_cpl0(in);
    CpuState& cpu = in.cpu();
    uint32_t index = static_cast<uint32_t>(cpu.gpr[RCX]);
    uint64_t value = (cpu.gpr[RDX] << 32) | (cpu.gpr[RAX] & 0xffffffffULL);
    uint64_t tsc =
        index == msr::kTsc ? in.environment().virtual_tsc(in.vcpu().instructions_retired) : 0;
    if (!write_msr(cpu, in.memory(), index, value, tsc)) {
        throw GuestFault::gp(0);
    }
}

void rdtsc(Interpreter& in, const DecodedInstruction&) {
    CpuState& cpu = in.cpu();
    if ((cpu.cr4 & kCr4Tsd) && in.cpl() != 0) {
        throw GuestFault::gp(0);
    }
    uint64_t tsc =
        in.environment().virtual_tsc(in.vcpu().instructions_retired) + cpu.msr.tsc_offset;
    cpu.gpr[RAX] = tsc & 0xffffffffULL;
    cpu.gpr[RDX] = tsc >> 32;
}

void cpuid(Interpreter& in, const DecodedInstruction&) {
    CpuState& cpu = in.cpu();
    CpuidEntry e = in.cpuid().lookup(static_cast<uint32_t>(cpu.gpr[RAX]),
                                     static_cast<uint32_t>(cpu.gpr[RCX]), in.vcpu().id);
    cpu.gpr[RAX] = e.eax;
    cpu.gpr[RBX] = e.ebx;
    cpu.gpr[RCX] = e.ecx;
    cpu.gpr[RDX] = e.edx;
}

void load_descriptor_table(Interpreter& in, const DecodedInstruction& insn) {
    require_cpl0(in);
    uint64_t address = in.linear_address(insn);
    uint16_t limit = static_cast<uint16_t>(in.read_memory(address, 2));
    uint64_t base = in.read_memory(address + 2, 8);
    if (!is_canonical(base)) {
        throw GuestFault::gp(0);
    }
    DescriptorTable& table = insn.opcode == OpcodeId::LGDT_Ms ? in.cpu().gdtr : in.cpu().idtr;
    table = {base, limit};
}

void store_descriptor_table(Interpreter& in, const DecodedInstruction& insn) {
    const DescriptorTable& table = insn.opcode == OpcodeId::SGDT_Ms ? in.cpu().gdtr : in.cpu().idtr;
    uint8_t image[10];
    std::memcpy(image, &table.limit, 2);
    std::memcpy(image + 2, &table.base, 8);
    in.memory().write_bytes(in.linear_address(insn), image, in.user_mode);
}

void ltr(Interpreter& in, const DecodedInstruction& insn) {
    require_cpl0(in);
    load_task_register(in.cpu(), in.memory(), static_cast<uint16_t>(in.read_operand(insn, 0)));
}

void lldt(Interpreter& in, const DecodedInstruction& insn) {
    require_cpl0(in);
    load_ldt_register(in.cpu(), in.memory(), static_cast<uint16_t>(in.read_operand(insn, 0)));
}

void store_system_selector(Interpreter& in, const DecodedInstruction& insn) {
    uint16_t selector =
        insn.opcode == OpcodeId::STR_Ev ? in.cpu().tr.selector : in.cpu().ldtr.selector;
    if (insn.operands[0].kind == cpu::OperandKind::Memory) {
        in.write_memory(in.linear_address(insn), 2, selector);
    } else {
        in.write_operand(insn, 0, selector);
    }
}

void smsw(Interpreter& in, const DecodedInstruction& insn) {
    if (insn.operands[0].kind == cpu::OperandKind::Memory) {
        in.write_memory(in.linear_address(insn), 2, in.cpu().cr0 & 0xffff);
    } else {
        in.write_operand(insn, 0, in.cpu().cr0);
    }
}

void lmsw(Interpreter& in, const DecodedInstruction& insn) {
    require_cpl0(in);
    CpuState& cpu = in.cpu();
    uint64_t source = in.read_operand(insn, 0) & 0xf;
    // LMSW can set PE but not clear it.
    uint64_t value = (cpu.cr0 & ~0xeULL) | source | (cpu.cr0 & 1);
    write_cr0(cpu, in.memory(), value);
}

void clts(Interpreter& in, const DecodedInstruction&) {
    require_cpl0(in);
    in.cpu().cr0 &= ~kCr0Ts;
}

void invlpg(Interpreter& in, const DecodedInstruction& insn) {
    require_cpl0(in);
    in.memory().tlb().flush_page(in.linear_address(insn));
}

void swapgs(Interpreter& in, const DecodedInstruction&) {
    require_cpl0(in);
    CpuState& cpu = in.cpu();
    std::swap(cpu.seg[GS].base, cpu.msr.kernel_gs_base);
}

// Intel recognises SYSCALL and SYSRET only in 64-bit mode (its 32-bit
// programs enter with SYSENTER).
void syscall(Interpreter& in, const DecodedInstruction&) {
    CpuState& cpu = in.cpu();
    if (!(cpu.msr.efer & kEferSce) || in.mode() != cpu::CpuMode::Bits64) {
        throw GuestFault::ud();
    }
    cpu.rip = in.next_rip;
    execute_syscall(cpu);
    in.next_rip = cpu.rip;
}

void sysret(Interpreter& in, const DecodedInstruction& insn) {
    CpuState& cpu = in.cpu();
    if (!(cpu.msr.efer & kEferSce) || in.mode() != cpu::CpuMode::Bits64) {
        throw GuestFault::ud();
    }
    execute_sysret(cpu, insn.rex_w());
    in.next_rip = cpu.rip;
}

void sysenter(Interpreter& in, const DecodedInstruction&) {
    execute_sysenter(in.cpu());
    in.next_rip = in.cpu().rip;
}

void sysexit(Interpreter& in, const DecodedInstruction& insn) {
    execute_sysexit(in.cpu(), insn.rex_w());
    in.next_rip = in.cpu().rip;
}

// This CPU never enters system-management mode, where RSM is valid.
void rsm(Interpreter&, const DecodedInstruction&) {
    throw GuestFault::ud();
}

void software_interrupt(Interpreter& in, uint8_t vector, EventKind kind) {
    CpuState& cpu = in.cpu();
    uint64_t at = cpu.rip;
    cpu.rip = in.next_rip;
    try {
        deliver_event_or_fault(cpu, in.memory(), Event{vector, kind});
    } catch (const GuestFault&) {
        cpu.rip = at;
        throw;
    }
    in.next_rip = cpu.rip;
}

void int_n(Interpreter& in, const DecodedInstruction& insn) {
    software_interrupt(in, static_cast<uint8_t>(insn.immediate[0]), EventKind::SoftwareInterrupt);
}

void int3(Interpreter& in, const DecodedInstruction&) {
    software_interrupt(in, kBreakpoint, EventKind::SoftwareException);
}

void int1(Interpreter& in, const DecodedInstruction&) {
    // ICEBP: a #DB without the gate's DPL check.
    software_interrupt(in, kDebug, EventKind::Exception);
}

// IRET with a 16/32-bit frame (IRET, IRETD in 64-bit mode): RIP, CS, RFLAGS,
// RSP and SS in operand-size slots, to 64-bit code at the same privilege.
// Other targets stop as not implemented.
void iret_narrow(Interpreter& in, const DecodedInstruction& insn) {
    constexpr uint64_t kNt = 1ULL << 14;
    CpuState& cpu = in.cpu();
    const int size = insn.operand_size / 8;
    uint64_t frame[5];
    for (int i = 0; i < 5; ++i) {
        frame[i] = in.read_memory(cpu.gpr[RSP] + static_cast<uint64_t>(i * size), size);
    }
    if (cpu.rflags & kNt) {
        throw GuestFault::gp(0); // task return does not exist in long mode
    }
    const auto new_cs = static_cast<uint16_t>(frame[1]);
    Segment cs = code_segment_for_return(cpu, in.memory(), new_cs);
    if ((new_cs & 3u) != in.cpl() || !cs.l || cs.db) {
        in.request_stop(StopReason::Unimplemented,
                        "IRET with a 16/32-bit frame to another privilege level or to "
                        "compatibility mode is not implemented");
        return;
    }
    // The popped image replaces only the low 16 or 32 bits of RFLAGS.
    const uint64_t low = size == 2 ? 0xffffULL : 0xffffffffULL;
    const uint64_t popped = (cpu.rflags & ~low) | (frame[2] & low);
    CpuState next = cpu;
    next.seg[CS] = cs;
    load_data_segment(next, in.memory(), SS, static_cast<uint16_t>(frame[4]));
    next.rflags = merge_popped_flags(cpu, cpu.rflags, popped, true);
    next.gpr[RSP] = frame[3];
    next.events.nmi_masked = 0; // IRET ends NMI blocking
    cpu = next;
    in.next_rip = frame[0];
}

void iret(Interpreter& in, const DecodedInstruction& insn) {
    if (insn.operand_size != 64) {
        iret_narrow(in, insn);
        return;
    }
    execute_iretq(in.cpu(), in.memory());
    in.next_rip = in.cpu().rip;
}

} // namespace

// IN/OUT from CPL > IOPL consult the I/O permission bitmap in the TSS.
void check_io_permission(Interpreter& in, uint16_t port, int size) {
    CpuState& cpu = in.cpu();
    unsigned iopl = (cpu.rflags >> 12) & 3;
    if (in.cpl() <= iopl) {
        return;
    }
    if (!cpu.tr.present || cpu.tr.limit < 103) {
        throw GuestFault::gp(0);
    }
    uint16_t map_base = in.memory().read<uint16_t>(cpu.tr.base + 102, false);
    uint64_t byte = map_base + port / 8u;
    if (byte + 1 > cpu.tr.limit) {
        throw GuestFault::gp(0);
    }
    uint16_t bits = in.memory().read<uint16_t>(cpu.tr.base + byte, false);
    uint16_t mask = static_cast<uint16_t>(((1u << size) - 1) << (port % 8));
    if (bits & mask) {
        throw GuestFault::gp(0);
    }
}

namespace {

uint16_t io_port(Interpreter& in, const DecodedInstruction& insn, int port_operand) {
    const cpu::Operand& op = insn.operands[static_cast<size_t>(port_operand)];
    if (op.kind == cpu::OperandKind::Immediate) {
        return static_cast<uint16_t>(insn.immediate[op.reg] & 0xff);
    }
    return static_cast<uint16_t>(in.cpu().gpr[RDX]);
}

void in_port(Interpreter& in, const DecodedInstruction& insn) {
    int size = insn.operands[0].size;
    uint16_t port = io_port(in, insn, 1);
    check_io_permission(in, port, size);
    uint64_t v = in.environment().io_read(port, size);
    write_gpr(in.cpu(), RAX, size, v);
}

void out_port(Interpreter& in, const DecodedInstruction& insn) {
    int size = insn.operands[1].size;
    uint16_t port = io_port(in, insn, 0);
    check_io_permission(in, port, size);
    in.environment().io_write(port, size, read_gpr(in.cpu(), RAX, size));
}

void privileged_nop(Interpreter& in, const DecodedInstruction&) {
    require_cpl0(in);
}

void nop(Interpreter&, const DecodedInstruction&) {}

void pause(Interpreter& in, const DecodedInstruction&) {
    in.environment().paused();
}

// CLFLUSH and PREFETCH name an address: CLFLUSH faults like a read if it is
// not mapped; prefetches never fault.
void clflush(Interpreter& in, const DecodedInstruction& insn) {
    (void)in.memory().translate(in.linear_address(insn), Access::Read, in.user_mode);
}

// VERR, VERW, LAR, LSL: ask whether a selector is usable at the current
// privilege (the kernel uses VERW to flush CPU buffers). They report in ZF
// and never fault on the selector itself.
enum class SelectorQuery { Verr, Verw, Lar, Lsl };

template <SelectorQuery kQuery>
void selector_query(Interpreter& in, const DecodedInstruction& insn) {
    constexpr uint64_t kZf = 1ULL << 6;
    CpuState& cpu = in.cpu();
    const int source = kQuery == SelectorQuery::Lar || kQuery == SelectorQuery::Lsl ? 1 : 0;
    uint16_t selector = static_cast<uint16_t>(in.read_operand(insn, source));
    bool valid = false;
    std::optional<Descriptor> d;
    if ((selector & ~3u) != 0) {
        d = read_descriptor(in.memory(), cpu, selector);
    }
    if (d) {
        const Segment& s = d->segment;
        unsigned cpl = in.cpl(), rpl = selector & 3;
        bool privilege_ok = d->conforming() || (s.dpl >= cpl && s.dpl >= rpl);
        bool system_ok = s.type == 2 || s.type == 9 || s.type == 11; // LDT, 64-bit TSS
        switch (kQuery) {
        case SelectorQuery::Verr:
            valid = s.s && d->readable() && privilege_ok;
            break;
        case SelectorQuery::Verw:
            valid = d->writable_data() && privilege_ok;
            break;
        case SelectorQuery::Lar:
        case SelectorQuery::Lsl:
            valid = privilege_ok && (s.s || system_ok);
            break;
        }
        if (valid && kQuery == SelectorQuery::Lar) {
            // The SDM leaves bits 19:16 undefined; Intel CPUs return the
            // descriptor's limit bits there, and guests recorded on one see them.
            in.write_operand(insn, 0, (d->raw_low >> 32) & 0x00ffff00ULL);
        } else if (valid && kQuery == SelectorQuery::Lsl) {
            in.write_operand(insn, 0, s.limit);
        }
    }
    cpu.rflags = valid ? cpu.rflags | kZf : cpu.rflags & ~kZf;
}

void invalid_opcode(Interpreter&, const DecodedInstruction&) {
    throw GuestFault::ud();
}

void rdpmc(Interpreter&, const DecodedInstruction&) {
    throw GuestFault::gp(0); // no performance counters
}

} // namespace

void register_system_handlers(HandlerTable& t) {
    t.set(OpcodeId::HLT, hlt);
    t.set(OpcodeId::MOV_CqRq, mov_to_control);
    t.set(OpcodeId::MOV_RqCq, mov_from_control);
    t.set(OpcodeId::MOV_DqRq, mov_to_debug);
    t.set(OpcodeId::MOV_RqDq, mov_from_debug);
    t.set(OpcodeId::RDMSR, rdmsr);
    t.set(OpcodeId::WRMSR, wrmsr);
    t.set(OpcodeId::RDTSC, rdtsc);
    t.set(OpcodeId::RDPMC, rdpmc);
    t.set(OpcodeId::CPUID, cpuid);
    t.set(OpcodeId::LGDT_Ms, load_descriptor_table);
    t.set(OpcodeId::LIDT_Ms, load_descriptor_table);
    t.set(OpcodeId::SGDT_Ms, store_descriptor_table);
    t.set(OpcodeId::SIDT_Ms, store_descriptor_table);
    t.set(OpcodeId::LTR_Ew, ltr);
    t.set(OpcodeId::LLDT_Ew, lldt);
    t.set(OpcodeId::STR_Ev, store_system_selector);
    t.set(OpcodeId::SLDT_Ev, store_system_selector);
    t.set(OpcodeId::SMSW_Ev, smsw);
    t.set(OpcodeId::LMSW_Ew, lmsw);
    t.set(OpcodeId::CLTS, clts);
    t.set(OpcodeId::INVLPG_Mb, invlpg);
    t.set(OpcodeId::SWAPGS, swapgs);
    t.set(OpcodeId::SYSCALL, syscall);
    t.set(OpcodeId::SYSRET, sysret);
    t.set(OpcodeId::SYSENTER, sysenter);
    t.set(OpcodeId::SYSEXIT, sysexit);
    t.set(OpcodeId::RSM, rsm);
    t.set(OpcodeId::INT_Ib, int_n);
    t.set(OpcodeId::INT3, int3);
    t.set(OpcodeId::INT1, int1);
    t.set(OpcodeId::IRET, iret);
    for (OpcodeId id :
         {OpcodeId::IN_ALIb, OpcodeId::IN_eAXIb, OpcodeId::IN_ALDX, OpcodeId::IN_eAXDX}) {
        t.set(id, in_port);
    }
    for (OpcodeId id :
         {OpcodeId::OUT_IbAL, OpcodeId::OUT_IbeAX, OpcodeId::OUT_DXAL, OpcodeId::OUT_DXeAX}) {
        t.set(id, out_port);
    }
    t.set(OpcodeId::WBINVD, privileged_nop);
    t.set(OpcodeId::INVD, privileged_nop);
    for (OpcodeId id : {OpcodeId::NOP, OpcodeId::NOP_Ev, OpcodeId::ENDBR64, OpcodeId::ENDBR32,
                        OpcodeId::PREFETCH_Mb, OpcodeId::PREFETCHW_Mb, OpcodeId::PREFETCHNTA_Mb,
                        OpcodeId::PREFETCHT0_Mb, OpcodeId::PREFETCHT1_Mb, OpcodeId::PREFETCHT2_Mb,
                        OpcodeId::HINT_NOP_18, OpcodeId::HINT_NOP_19, OpcodeId::HINT_NOP_1A,
                        OpcodeId::HINT_NOP_1B, OpcodeId::HINT_NOP_1C, OpcodeId::HINT_NOP_1D,
                        OpcodeId::HINT_NOP_1E, OpcodeId::LFENCE, OpcodeId::MFENCE, OpcodeId::SFENCE,
                        OpcodeId::PREFETCHWT1_Mb, OpcodeId::PREFETCH_RESERVED_Mb,
                        // Without shadow stacks RDSSP is a hint NOP: the register keeps its value.
                        OpcodeId::RDSSP_Ry}) {
        t.set(id, nop);
    }
    t.set(OpcodeId::PAUSE, pause);
    t.set(OpcodeId::CLFLUSH_M, clflush);
    t.set(OpcodeId::VERR_Ew, selector_query<SelectorQuery::Verr>);
    t.set(OpcodeId::VERW_Ew, selector_query<SelectorQuery::Verw>);
    t.set(OpcodeId::LAR_GvEw, selector_query<SelectorQuery::Lar>);
    t.set(OpcodeId::LSL_GvEw, selector_query<SelectorQuery::Lsl>);
    // UD0/UD1/UD2 and the opcodes 64-bit mode removed.
    for (int i = 0; i < cpu::kOpcodeCount; ++i) {
        auto id = static_cast<OpcodeId>(i);
        if (cpu::opcode_row(id).family == cpu::InstructionFamily::Invalid) {
            t.set(id, invalid_opcode);
        }
    }
}

} // namespace krr
