#include "replay-engine/interpreter/masked_store.h"

namespace krr {

void store_masked_bytes(Interpreter& in, const cpu::DecodedInstruction& insn,
                        std::span<const uint8_t> data, std::span<const uint8_t> mask) {
    const CpuState& cpu = in.cpu();
    uint64_t address = cpu.gpr[RDI];
    if (insn.address_size == 32) {
        address &= 0xffffffffULL;
    }
    int8_t seg = insn.prefixes.segment;
    if (seg == FS || seg == GS) {
        address += cpu.seg[seg].base;
    }
    // The host checks the whole destination before it stores a byte: one
    // that is not writable faults even under an all-zero mask, and one that
    // reaches into an unwritable page writes nothing. Only the page rights
    // are checked here, so an MMIO destination sees no access it did not ask for.
    in.memory().translate(address, Access::Write, in.user_mode);
    in.memory().translate(address + data.size() - 1, Access::Write, in.user_mode);
    for (size_t i = 0; i < data.size(); ++i) {
        if (mask[i] & 0x80) {
            in.write_memory(address + i, 1, data[i]);
        }
    }
}

} // namespace krr
