#include "replay-engine/system/cpu_startup.h"

namespace krr {

void apply_init(CpuState& cpu) {
    const ModelSpecificRegisters msr = cpu.msr;
    cpu = CpuState{};
    cpu.msr = msr;
    cpu.msr.efer = 0;
    for (Segment& s : cpu.seg) {
        s.limit = 0xffff;
        s.type = 3;
        s.s = 1;
        s.present = 1;
    }
    cpu.seg[CS].selector = 0xf000;
    cpu.seg[CS].base = 0xffff0000;
    cpu.seg[CS].type = 0xb;
    cpu.ldtr.limit = 0xffff;
    cpu.ldtr.type = 2;
    cpu.ldtr.present = 1;
    cpu.tr.limit = 0xffff;
    cpu.tr.type = 3;
    cpu.tr.present = 1;
    cpu.gdtr = {0, 0xffff};
    cpu.idtr = {0, 0xffff};
    cpu.cr0 = 0x60000010;
    cpu.rflags = 2;
    cpu.rip = 0xfff0;
    cpu.dr6 = 0xffff0ff0;
    cpu.dr7 = 0x400;
}

void apply_startup(CpuState& cpu, uint8_t vector) {
    cpu.seg[CS].selector = static_cast<uint16_t>(vector << 8);
    cpu.seg[CS].base = static_cast<uint64_t>(vector) << 12;
    cpu.rip = 0;
}

} // namespace krr
