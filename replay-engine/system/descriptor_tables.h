// Reading the guest's descriptor tables (GDT, LDT, IDT, TSS) as the CPU does
// during segment loads and event delivery. All reads are supervisor reads
// through LinearMemory, so they fault like the hardware's implicit accesses.
#pragma once

#include "guest-model/machine_state.h"
#include "replay-engine/mmu/linear_memory.h"

#include <cstdint>
#include <optional>

namespace krr {

// A code/data or system segment descriptor, unpacked. For 16-byte system
// descriptors in long mode (TSS, LDT) `base` holds all 64 bits.
struct Descriptor {
    uint64_t raw_low = 0;
    Segment segment{}; // selector left 0; the caller sets it
    bool is_code() const { return segment.s && (segment.type & 8); }
    bool is_data() const { return segment.s && !(segment.type & 8); }
    bool conforming() const { return is_code() && (segment.type & 4); }
    bool readable() const { return is_data() || (segment.type & 2); }
    bool writable_data() const { return is_data() && (segment.type & 2); }
};

// The descriptor a selector names, or nullopt when the selector's index is
// outside the table's limit (the caller raises #GP(selector)). Does not check
// types or privileges.
std::optional<Descriptor> read_descriptor(LinearMemory& memory, const CpuState& cpu,
                                          uint16_t selector);

// Set the accessed bit of a code/data descriptor in the table, as a segment
// load does.
void mark_descriptor_accessed(LinearMemory& memory, const CpuState& cpu, uint16_t selector);

Segment unpack_descriptor(uint64_t low, uint64_t high, bool system_16_byte);

struct InterruptGate {
    uint64_t offset = 0;
    uint16_t selector = 0;
    uint8_t ist = 0;
    uint8_t type = 0; // 0xE interrupt gate, 0xF trap gate
    uint8_t dpl = 0;
    bool present = false;
};

// The long-mode IDT entry for `vector`, or nullopt beyond the IDT limit.
std::optional<InterruptGate> read_idt_gate(LinearMemory& memory, const CpuState& cpu,
                                           uint8_t vector);

// RSP0..RSP2 (index 0..2) or IST1..IST7 (index 1..7) from the 64-bit TSS.
uint64_t read_tss_stack(LinearMemory& memory, const CpuState& cpu, bool ist, unsigned index);

inline unsigned current_privilege(const CpuState& cpu) {
    return cpu.seg[CS].selector & 3;
}

} // namespace krr
