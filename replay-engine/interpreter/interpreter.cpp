#include "replay-engine/interpreter/interpreter.h"

#include "replay-engine/cpu/decoder.h"
#include "replay-engine/cpu/opcode_table.h"
#include "replay-engine/interpreter/handler_table.h"
#include "replay-engine/interpreter/legacy_mode.h"
#include "replay-engine/system/control_registers.h"
#include "replay-engine/system/event_delivery.h"

#include <algorithm>
#include <cstdio>

namespace krr {

namespace {

constexpr uint64_t kIf = 1ULL << 9, kRf = 1ULL << 16;

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

const char* stop_reason_name(StopReason reason) {
    switch (reason) {
    case StopReason::ReachedTarget:
        return "reached target";
    case StopReason::Halted:
        return "halted";
    case StopReason::TripleFault:
        return "triple fault";
    case StopReason::Unimplemented:
        return "unimplemented";
    case StopReason::ExitRequested:
        return "exit requested";
    case StopReason::Breakpoint:
        return "breakpoint";
    case StopReason::Watchpoint:
        return "watchpoint";
    case StopReason::Delivered:
        return "exception delivered";
    }
    return "?";
}

Interpreter::Interpreter(VcpuState& vcpu, GuestMemory& ram, CpuEnvironment& environment,
                         const CpuidTable& cpuid)
    : vcpu_(&vcpu), memory_(ram, &environment), environment_(environment), cpuid_(cpuid) {
    memory_.set_code_write_observer([this](uint64_t page) { invalidate_code_page(page); });
    sync_paging(vcpu_->cpu, memory_);
}

void Interpreter::pages_changed_externally(const std::vector<uint64_t>& physical_pages) {
    sync_paging(vcpu_->cpu, memory_);
    for (uint64_t page : physical_pages) {
        if (memory_.is_code_page(page)) {
            code_cache_.drop_page(page);
            memory_.unprotect_code_page(page);
        }
    }
    last_retired_rip_ = kNoRip;
}

void Interpreter::switch_vcpu(VcpuState& next, uint32_t deliveries, uint64_t last_retired_rip) {
    vcpu_ = &next;
    sync_paging(next.cpu, memory_);
    memory_.tlb().flush_all();
    deliveries_since_retire_ = deliveries;
    last_retired_rip_ = last_retired_rip;
    mode_ = execution_mode(next.cpu);
}

void Interpreter::invalidate_code_page(uint64_t physical_page) {
    code_cache_.drop_page(physical_page);
}

void Interpreter::request_stop(StopReason reason, std::string message) {
    stop_requested_ = true;
    stop_reason_ = reason;
    if (!message.empty()) {
        error_ = std::move(message);
    }
}

bool Interpreter::between_string_iterations() const {
    return last_retired_rip_ != kNoRip && last_retired_rip_ == vcpu_->cpu.rip;
}

bool Interpreter::interrupts_enabled() const {
    return (vcpu_->cpu.rflags & kIf) && !vcpu_->cpu.events.interrupt_shadow;
}

// Real-mode IVT and 32-bit IDT delivery do not exist yet: an event outside
// 64-bit mode stops the CPU before anything of it happens.
bool Interpreter::refuse_legacy_event(const char* what, unsigned vector) {
    if (execution_mode(vcpu_->cpu) == cpu::CpuMode::Bits64) {
        return false;
    }
    request_stop(StopReason::Unimplemented, std::string(what) + " " + std::to_string(vector) +
                                                " at RIP " + hex(vcpu_->cpu.rip) +
                                                " outside 64-bit mode: delivery through the "
                                                "real-mode IVT or a 32-bit IDT is not implemented");
    return true;
}

void Interpreter::deliver(const GuestFault& fault) {
    if (refuse_legacy_event("exception", fault.vector)) {
        return;
    }
    ++deliveries_since_retire_;
    last_retired_rip_ = kNoRip;
    if (deliver_event(vcpu_->cpu, memory_, exception_event(fault)) ==
        DeliveryOutcome::TripleFault) {
        request_stop(StopReason::TripleFault, "triple fault while delivering vector " +
                                                  std::to_string(fault.vector) + " at RIP " +
                                                  hex(vcpu_->cpu.rip));
    }
}

void Interpreter::deliver_external_interrupt(uint8_t vector) {
    if (refuse_legacy_event("interrupt", vector)) {
        return;
    }
    vcpu_->cpu.events.halted = 0;
    Event interrupt{vector, EventKind::ExternalInterrupt};
    interrupt.between_string_iterations = between_string_iterations();
    last_retired_rip_ = kNoRip;
    if (deliver_event(vcpu_->cpu, memory_, interrupt) == DeliveryOutcome::TripleFault) {
        request_stop(StopReason::TripleFault,
                     "triple fault while delivering interrupt " + std::to_string(vector));
    }
}

void Interpreter::deliver_nmi() {
    if (refuse_legacy_event("NMI", kNmi)) {
        return;
    }
    vcpu_->cpu.events.halted = 0;
    Event nmi{kNmi, EventKind::Nmi};
    nmi.between_string_iterations = between_string_iterations();
    last_retired_rip_ = kNoRip;
    if (deliver_event(vcpu_->cpu, memory_, nmi) == DeliveryOutcome::TripleFault) {
        request_stop(StopReason::TripleFault, "triple fault while delivering an NMI");
    }
}

namespace {

void raise_invalid_opcode(Interpreter&, const cpu::DecodedInstruction&) {
    throw GuestFault::ud();
}

void report_missing_legacy_handler(Interpreter& in, const cpu::DecodedInstruction& insn) {
    in.request_stop(StopReason::Unimplemented,
                    "'" + std::string(cpu::mnemonic(insn)) + "' (" +
                        std::string(cpu::opcode_id_name(insn.opcode)) + ") at RIP " +
                        hex(in.cpu().rip) + " is not implemented in " +
                        (insn.mode == cpu::CpuMode::Bits16 ? "16" : "32") + "-bit mode");
}

void report_missing_handler(Interpreter& in, const cpu::DecodedInstruction& insn) {
    in.request_stop(StopReason::Unimplemented, "no execution handler for '" +
                                                   std::string(cpu::mnemonic(insn)) + "' (" +
                                                   std::string(cpu::opcode_id_name(insn.opcode)) +
                                                   ") at RIP " + hex(in.cpu().rip));
}

} // namespace

InstructionHandler Interpreter::resolve_handler(const cpu::DecodedInstruction& insn) const {
    if (!insn.supported) {
        return raise_invalid_opcode; // a feature the masked CPU does not have
    }
    if (insn.mode != cpu::CpuMode::Bits64) {
        InstructionHandler handler = legacy_mode_handler(insn);
        return handler ? handler : report_missing_legacy_handler;
    }
    InstructionHandler handler = handler_table().get(insn.opcode);
    return handler ? handler : report_missing_handler;
}

const CachedInstruction* Interpreter::fetch_and_decode(uint64_t* physical_out) {
    CpuState& cpu = vcpu_->cpu;
    // Outside 64-bit mode RIP is the offset into CS.
    const uint64_t linear =
        mode_ == cpu::CpuMode::Bits64 ? cpu.rip : (cpu.seg[CS].base + cpu.rip) & 0xffffffffULL;
    const TlbEntry* entry = memory_.tlb().find(linear, tlb_right(Access::Execute, user_mode));
    uint64_t physical = entry ? entry->physical_page | (linear & 0xfff)
                              : memory_.translate(linear, Access::Execute, user_mode);
    *physical_out = physical;
    if (const CachedInstruction* cached = code_cache_.find(physical)) {
        if (cached->insn.mode == mode_) {
            return cached;
        }
        // The same bytes decoded in another mode (a CPU starting up runs
        // 16- and 32-bit code from one page): decode the page afresh.
        code_cache_.drop_page(physical & ~0xfffULL);
    }
    uint8_t bytes[cpu::kMaxInstructionLength];
    size_t got = memory_.fetch(linear, bytes, user_mode);
    cpu::DecodeResult r = cpu::decode(std::span<const uint8_t>(bytes, got), mode_);
    switch (r.status) {
    case cpu::DecodeStatus::Ok:
        break;
    case cpu::DecodeStatus::Truncated:
        memory_.fetch_fault(linear + got, user_mode);
    case cpu::DecodeStatus::InvalidOpcode:
        throw GuestFault::ud();
    case cpu::DecodeStatus::TooLong:
        throw GuestFault::gp(0);
    case cpu::DecodeStatus::NotImplemented:
        request_stop(StopReason::Unimplemented, "cannot decode the instruction at RIP " +
                                                    hex(cpu.rip) + ": " + r.error_text());
        return nullptr;
    }
    CachedInstruction decoded{resolve_handler(r.instruction), r.instruction};
    const cpu::OpcodeRow& row = cpu::opcode_row(r.instruction.opcode);
    if (r.instruction.has_memory &&
        (row.has(cpu::row_attribute::kLockable) || row.family == cpu::InstructionFamily::Shift)) {
        decoded.read_access = Access::Write;
    }
    bool crosses_page = (physical & 0xfff) + r.instruction.length > 4096;
    if (crosses_page) {
        scratch_ = decoded;
        return &scratch_;
    }
    bool new_page = false;
    const CachedInstruction* cached = code_cache_.insert(physical, decoded, &new_page);
    if (new_page) {
        memory_.protect_code_page(physical & ~0xfffULL);
    }
    return cached;
}

StopReason Interpreter::run(uint64_t target) {
    return run_loop<false>(target, RunControl{});
}

StopReason Interpreter::run(uint64_t target, const RunControl& control) {
    if (control.breakpoints || control.watching || control.stop_after_deliveries != UINT32_MAX) {
        return run_loop<true>(target, control);
    }
    return run_loop<false>(target, control);
}

template <bool kDebug>
StopReason Interpreter::run_loop(uint64_t target, const RunControl& control) {
    CpuState& cpu = vcpu_->cpu;
    [[maybe_unused]] bool first = true;
    stop_requested_ = false;
    error_.clear();
    // The instruction just executed, to reach the next one without a lookup
    // while nothing that could change the mapping or the code has happened.
    const CachedInstruction* previous = nullptr;
    uint64_t previous_rip = 0, previous_physical = 0, previous_epoch = 0, previous_generation = 0;
    bool previous_user = false;
    while (vcpu_->instructions_retired < target) {
        if (cpu.events.halted) {
            return StopReason::Halted;
        }
        if constexpr (kDebug) {
            if (control.breakpoints && !(first && control.skip_breakpoint_at_start) &&
                cpu.rip != last_retired_rip_ &&
                std::binary_search(control.breakpoints->begin(), control.breakpoints->end(),
                                   cpu.rip) &&
                (!control.breakpoint_registers || cpu.gpr == *control.breakpoint_registers)) {
                return StopReason::Breakpoint;
            }
            first = false;
        }
        code_cache_.release_dropped();
        user_mode = (cpu.seg[CS].selector & 3) == 3;
        if (const cpu::CpuMode mode = execution_mode(cpu); mode != mode_) [[unlikely]] {
            mode_ = mode;
            previous = nullptr;
        }
        const uint8_t shadow = cpu.events.interrupt_shadow;
        cpu.events.interrupt_shadow = 0;
        try {
            const CachedInstruction* entry = nullptr;
            uint64_t physical = 0;
            // Captured before the instruction runs: if it flushes the TLB or
            // writes to decoded code, the next one is looked up afresh.
            const uint64_t epoch = memory_.tlb().epoch();
            const uint64_t generation = code_cache_.generation();
            if (previous && epoch == previous_epoch && generation == previous_generation &&
                user_mode == previous_user) {
                if (cpu.rip == previous_rip) {
                    // A REP string instruction's next iteration.
                    entry = previous;
                    physical = previous_physical;
                } else if (previous != &scratch_ &&
                           cpu.rip == previous_rip + previous->insn.length &&
                           (previous_physical & 0xfff) + previous->insn.length < 4096) {
                    physical = previous_physical + previous->insn.length;
                    entry = code_cache_.follow(previous, physical);
                    if (entry && entry->insn.mode != mode_) [[unlikely]] {
                        entry = nullptr;
                    }
                }
            }
            if (!entry) {
                entry = fetch_and_decode(&physical);
                if (!entry) {
                    cpu.events.interrupt_shadow = shadow;
                    return stop_reason_;
                }
            }
            const uint64_t rip = cpu.rip;
            next_rip = rip + entry->insn.length;
            previous = nullptr;
            read_access = entry->read_access;
            entry->handler(*this, entry->insn);
            if (stop_requested_ && stop_reason_ == StopReason::Unimplemented) {
                // The handler found a case it cannot execute: leave the state
                // as it was before the instruction.
                cpu.events.interrupt_shadow = shadow;
                return stop_reason_;
            }
            cpu.rip = next_rip;
            ++vcpu_->instructions_retired;
            deliveries_since_retire_ = 0;
            // Only a REP string instruction with iterations left retires
            // without moving on (a jump to itself moves to itself anew).
            last_retired_rip_ =
                next_rip == rip && (entry->insn.repeats() || entry->insn.repeats_while_not_equal())
                    ? rip
                    : kNoRip;
            if (cpu.rflags & kRf) [[unlikely]] {
                // The CPU clears RF when an instruction completes, except
                // IRET, which loads it (SDM vol. 3, "RF flag"); iterations of
                // a REP string instruction before its last are not its end.
                if (last_retired_rip_ == kNoRip && entry->insn.opcode != cpu::OpcodeId::IRET) {
                    cpu.rflags &= ~kRf;
                }
            }
            previous = entry;
            previous_rip = rip;
            previous_physical = physical;
            previous_epoch = epoch;
            previous_generation = generation;
            previous_user = user_mode;
        } catch (const GuestFault& fault) {
            previous = nullptr;
            if constexpr (kDebug) {
                // The faulting instruction did not complete: its accesses
                // are not hits (the CPU reports data breakpoints as traps
                // after the instruction).
                if (control.watching && memory_.has_watch_hit()) {
                    memory_.take_watch_hit();
                }
            }
            deliver(fault);
            if constexpr (kDebug) {
                if (deliveries_since_retire_ >= control.stop_after_deliveries && !stop_requested_) {
                    return StopReason::Delivered;
                }
            }
        }
        if (stop_requested_) {
            return stop_reason_;
        }
        if constexpr (kDebug) {
            if (control.watching && memory_.has_watch_hit()) {
                return StopReason::Watchpoint;
            }
        }
    }
    return StopReason::ReachedTarget;
}

uint64_t Interpreter::effective_address(const cpu::DecodedInstruction& insn) const {
    const cpu::MemoryReference& m = insn.memory;
    const CpuState& cpu = vcpu_->cpu;
    uint64_t ea = static_cast<uint64_t>(m.displacement);
    if (m.rip_relative) {
        ea += cpu.rip + insn.length;
    } else if (m.base != cpu::kNoRegister) {
        ea += cpu.gpr[m.base];
    }
    if (m.index != cpu::kNoRegister) {
        ea += cpu.gpr[m.index] * m.scale;
    }
    if (insn.address_size == 32) {
        ea &= 0xffffffffULL;
    } else if (insn.address_size == 16) {
        ea &= 0xffffULL;
    }
    return ea;
}

uint64_t Interpreter::linear_address(const cpu::DecodedInstruction& insn) const {
    uint64_t ea = effective_address(insn);
    int8_t seg = insn.memory.segment;
    if (insn.mode != cpu::CpuMode::Bits64) {
        const Segment& segment = vcpu_->cpu.seg[seg == cpu::kNoSegment ? int8_t{DS} : seg];
        return (ea + segment.base) & 0xffffffffULL;
    }
    if (seg == FS || seg == GS) {
        ea += vcpu_->cpu.seg[seg].base;
    }
    return ea;
}

uint64_t Interpreter::read_memory(uint64_t linear, int size) {
    switch (size) {
    case 1:
        return memory_.read<uint8_t>(linear, user_mode, read_access);
    case 2:
        return memory_.read<uint16_t>(linear, user_mode, read_access);
    case 4:
        return memory_.read<uint32_t>(linear, user_mode, read_access);
    default:
        return memory_.read<uint64_t>(linear, user_mode, read_access);
    }
}

void Interpreter::write_memory(uint64_t linear, int size, uint64_t value) {
    switch (size) {
    case 1:
        memory_.write<uint8_t>(linear, static_cast<uint8_t>(value), user_mode);
        break;
    case 2:
        memory_.write<uint16_t>(linear, static_cast<uint16_t>(value), user_mode);
        break;
    case 4:
        memory_.write<uint32_t>(linear, static_cast<uint32_t>(value), user_mode);
        break;
    default:
        memory_.write<uint64_t>(linear, value, user_mode);
        break;
    }
}

uint64_t Interpreter::read_operand(const cpu::DecodedInstruction& insn, int index) {
    const cpu::Operand& op = insn.operands[static_cast<size_t>(index)];
    CpuState& cpu = vcpu_->cpu;
    switch (op.kind) {
    case cpu::OperandKind::Gpr:
        return read_gpr(cpu, op.reg, op.size);
    case cpu::OperandKind::GprHighByte:
        return (cpu.gpr[op.reg] >> 8) & 0xff;
    case cpu::OperandKind::Memory:
        return read_memory(linear_address(insn), op.size);
    case cpu::OperandKind::Immediate:
        // Already sign- or zero-extended to 64 bits as the instruction
        // defines; the consumer truncates to its operand size.
        return insn.immediate[op.reg];
    case cpu::OperandKind::ConstantOne:
        return 1;
    case cpu::OperandKind::Segment:
        return cpu.seg[op.reg].selector;
    default:
        request_stop(StopReason::Unimplemented, "operand kind not readable generically");
        return 0;
    }
}

void Interpreter::write_operand(const cpu::DecodedInstruction& insn, int index, uint64_t value) {
    const cpu::Operand& op = insn.operands[static_cast<size_t>(index)];
    CpuState& cpu = vcpu_->cpu;
    switch (op.kind) {
    case cpu::OperandKind::Gpr:
        write_gpr(cpu, op.reg, op.size, value);
        return;
    case cpu::OperandKind::GprHighByte:
        cpu.gpr[op.reg] = (cpu.gpr[op.reg] & ~0xff00ULL) | ((value & 0xff) << 8);
        return;
    case cpu::OperandKind::Memory:
        write_memory(linear_address(insn), op.size, value);
        return;
    default:
        request_stop(StopReason::Unimplemented, "operand kind not writable generically");
        return;
    }
}

namespace {

uint64_t stack_mask(const CpuState& cpu) {
    return cpu.seg[SS].db ? 0xffffffffULL : 0xffffULL;
}

} // namespace

void Interpreter::push(uint64_t value, int size) {
    if (mode_ != cpu::CpuMode::Bits64) {
        CpuState& cpu = vcpu_->cpu;
        const uint64_t mask = stack_mask(cpu);
        const uint64_t sp = (cpu.gpr[RSP] - static_cast<uint64_t>(size)) & mask;
        write_memory((cpu.seg[SS].base + sp) & 0xffffffffULL, size, value);
        cpu.gpr[RSP] = (cpu.gpr[RSP] & ~mask) | sp;
        return;
    }
    uint64_t rsp = vcpu_->cpu.gpr[RSP] - static_cast<uint64_t>(size);
    if (!is_canonical(rsp)) {
        throw GuestFault::ss(0);
    }
    write_memory(rsp, size, value);
    vcpu_->cpu.gpr[RSP] = rsp;
}

uint64_t Interpreter::pop(int size) {
    if (mode_ != cpu::CpuMode::Bits64) {
        CpuState& cpu = vcpu_->cpu;
        const uint64_t mask = stack_mask(cpu);
        const uint64_t sp = cpu.gpr[RSP] & mask;
        const uint64_t v = read_memory((cpu.seg[SS].base + sp) & 0xffffffffULL, size);
        cpu.gpr[RSP] = (cpu.gpr[RSP] & ~mask) | ((sp + static_cast<uint64_t>(size)) & mask);
        return v;
    }
    uint64_t rsp = vcpu_->cpu.gpr[RSP];
    if (!is_canonical(rsp)) {
        throw GuestFault::ss(0);
    }
    uint64_t v = read_memory(rsp, size);
    vcpu_->cpu.gpr[RSP] = rsp + static_cast<uint64_t>(size);
    return v;
}

void Interpreter::release_stack(uint64_t bytes) {
    CpuState& cpu = vcpu_->cpu;
    const uint64_t mask = mode_ == cpu::CpuMode::Bits64 ? ~0ULL : stack_mask(cpu);
    cpu.gpr[RSP] = (cpu.gpr[RSP] & ~mask) | ((cpu.gpr[RSP] + bytes) & mask);
}

} // namespace krr
