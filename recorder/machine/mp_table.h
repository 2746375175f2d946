// The Intel MultiProcessor Specification 1.4 tables, which is how this
// machine (no ACPI) tells Linux about its CPUs and interrupt wiring: a
// floating pointer structure and, right after it, a configuration table with
// one processor entry per vCPU (APIC ID = vCPU index, the first is the BSP),
// an ISA bus, the I/O APIC, an interrupt assignment for each ISA IRQ, and
// LINT0 = ExtINT, LINT1 = NMI on every local APIC.
//
// ISA IRQ 0 (the PIT) is wired to I/O APIC pin 2, the other ISA IRQs to the
// pin of the same number (IRQ 2, the PIC cascade, to none). This is the
// wiring of the PC chipsets QEMU and the kernel's own default table model;
// the kernel's check_timer() takes the timer's pin from the table's
// IRQ 0 entry, so the table only has to tell the truth.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace krr {

struct MpTableConfig {
    unsigned cpus = 1;
    uint8_t io_apic_id = 1;
    uint32_t io_apic_address = 0;
    uint32_t local_apic_address = 0;
};

inline constexpr unsigned kIsaIrqs = 16;

// The I/O APIC pin an ISA IRQ is wired to, if any.
std::optional<unsigned> io_apic_pin_for_isa_irq(unsigned irq);

// The floating pointer (16 bytes) followed by the configuration table, to be
// written at guest-physical `address`, which must be 16-byte aligned.
// Throws krr::Error on an impossible configuration (no CPUs, more than 254).
std::vector<uint8_t> build_mp_table(uint64_t address, const MpTableConfig& config);

} // namespace krr
