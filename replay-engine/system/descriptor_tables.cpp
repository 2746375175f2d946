#include "replay-engine/system/descriptor_tables.h"

namespace krr {

Segment unpack_descriptor(uint64_t low, uint64_t high, bool system_16_byte) {
    Segment s;
    uint32_t limit = static_cast<uint32_t>((low & 0xffff) | ((low >> 32) & 0xf0000));
    s.g = (low >> 55) & 1;
    s.limit = s.g ? (limit << 12) | 0xfff : limit;
    s.base = ((low >> 16) & 0xffffff) | (((low >> 56) & 0xff) << 24);
    if (system_16_byte) {
        s.base |= (high & 0xffffffffULL) << 32;
    }
    s.type = (low >> 40) & 0xf;
    s.s = (low >> 44) & 1;
    s.dpl = (low >> 45) & 3;
    s.present = (low >> 47) & 1;
    s.avl = (low >> 52) & 1;
    s.l = (low >> 53) & 1;
    s.db = (low >> 54) & 1;
    s.unusable = 0;
    return s;
}

std::optional<Descriptor> read_descriptor(LinearMemory& memory, const CpuState& cpu,
                                          uint16_t selector) {
    uint64_t base;
    uint32_t limit;
    if (selector & 4) {
        if (cpu.ldtr.unusable || !cpu.ldtr.present) {
            return std::nullopt;
        }
        base = cpu.ldtr.base;
        limit = cpu.ldtr.limit;
    } else {
        base = cpu.gdtr.base;
        limit = cpu.gdtr.limit;
    }
    uint64_t offset = selector & ~7u;
    if (offset + 7 > limit) {
        return std::nullopt;
    }
    Descriptor d;
    d.raw_low = memory.read<uint64_t>(base + offset, false);
    bool system = !((d.raw_low >> 44) & 1);
    uint64_t high = 0;
    if (system) {
        // Long-mode system descriptors are 16 bytes.
        if (offset + 15 > limit) {
            return std::nullopt;
        }
        high = memory.read<uint64_t>(base + offset + 8, false);
    }
    d.segment = unpack_descriptor(d.raw_low, high, system);
    return d;
}

void mark_descriptor_accessed(LinearMemory& memory, const CpuState& cpu, uint16_t selector) {
    uint64_t base = (selector & 4) ? cpu.ldtr.base : cpu.gdtr.base;
    uint64_t address = base + (selector & ~7u) + 5; // the access byte
    uint8_t access = memory.read<uint8_t>(address, false);
    if (!(access & 1)) {
        memory.write<uint8_t>(address, access | 1, false);
    }
}

std::optional<InterruptGate> read_idt_gate(LinearMemory& memory, const CpuState& cpu,
                                           uint8_t vector) {
    uint64_t offset = static_cast<uint64_t>(vector) * 16;
    if (offset + 15 > cpu.idtr.limit) {
        return std::nullopt;
    }
    uint64_t low = memory.read<uint64_t>(cpu.idtr.base + offset, false);
    uint64_t high = memory.read<uint64_t>(cpu.idtr.base + offset + 8, false);
    InterruptGate g;
    g.offset = (low & 0xffff) | (((low >> 48) & 0xffff) << 16) | ((high & 0xffffffffULL) << 32);
    g.selector = static_cast<uint16_t>(low >> 16);
    g.ist = (low >> 32) & 7;
    g.type = (low >> 40) & 0xf;
    g.dpl = (low >> 45) & 3;
    g.present = (low >> 47) & 1;
    return g;
}

uint64_t read_tss_stack(LinearMemory& memory, const CpuState& cpu, bool ist, unsigned index) {
    // 64-bit TSS: RSP0 at 4, RSP1 at 12, RSP2 at 20; IST1 at 36 ... IST7 at 84.
    uint64_t offset = ist ? 36 + 8 * (index - 1) : 4 + 8 * index;
    if (!cpu.tr.present || offset + 7 > cpu.tr.limit) {
        throw GuestFault{kInvalidTss, true, static_cast<uint32_t>(cpu.tr.selector & ~3u), 0};
    }
    return memory.read<uint64_t>(cpu.tr.base + offset, false);
}

} // namespace krr
