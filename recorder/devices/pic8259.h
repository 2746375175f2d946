// The legacy 8259A interrupt controller pair: master at ports 0x20-0x21,
// slave at 0xa0-0xa1 cascaded on the master's input 2.
//
// It is modelled, not left out: Linux's probe_8259A() writes a mask to 0x21
// and reads it back, and when the PIC is missing it installs the null legacy
// PIC, after which has_legacy_pic() is false and both PIT calibrations of the
// TSC (quick_pit_calibrate, pit_calibrate_tsc) give up. Once the I/O APIC is
// set up the kernel masks every PIC input and the PIC stays quiet; its
// output reaches the CPU only through a local APIC's LINT0 in ExtINT mode.
//
// Implemented: ICW1-ICW4 (edge or level triggered, single or cascaded,
// automatic EOI), OCW1 mask, OCW2 (specific and non-specific EOI, rotation,
// set priority), OCW3 (IRR/ISR read select, poll, special mask mode), the
// interrupt acknowledge cycle and spurious IRQ 7. Not implemented: special
// fully nested mode's effect on priorities, buffered mode, the ELCR.
#pragma once

#include "guest-model/byte_codec.h"
#include "recorder/machine/bus_device.h"

#include <cstdint>
#include <optional>

namespace krr {

// One chip. Its two ports are reached through LegacyPic, which keeps the
// cascade wire between the chips up to date after every access.
class Pic8259 {
public:
    uint8_t read_port(unsigned offset);
    void write_port(unsigned offset, uint8_t value);

    void set_input(unsigned irq, bool level);
    // The input the chip would present on INTA now, if its INT output is up.
    std::optional<unsigned> pending_input() const;
    // The INTA cycle: the input chosen (in service from now on, unless
    // automatic EOI); 7 when nothing is pending (the spurious IRQ 7).
    unsigned acknowledge();
    uint8_t vector_base() const { return vector_base_; }
    bool single() const { return single_; }

    uint8_t irr() const { return irr_; }
    uint8_t isr() const { return isr_; }
    uint8_t imr() const { return imr_; }

    // Snapshot state (a trace's DEVICE_STATE); load_state throws krr::Error
    // on a malformed encoding and leaves the model unusable only then.
    void save_state(ByteWriter& out) const;
    void load_state(ByteReader& in);

private:
    std::optional<unsigned> highest(uint8_t bits) const;
    void initialize(uint8_t icw1);
    void write_ocw2(uint8_t value);
    void end_of_interrupt(unsigned irq, bool rotate);

    uint8_t irr_ = 0;
    uint8_t isr_ = 0;
    uint8_t imr_ = 0;
    uint8_t input_levels_ = 0;
    uint8_t vector_base_ = 0;
    uint8_t highest_priority_ = 0; // the input with the highest priority
    uint8_t init_step_ = 0;        // 0 = operating; 2, 3, 4 = expecting that ICW
    bool level_triggered_ = false;
    bool single_ = false;
    bool expect_icw4_ = false;
    bool auto_eoi_ = false;
    bool rotate_on_auto_eoi_ = false;
    bool read_isr_ = false;
    bool poll_ = false;
    bool special_mask_ = false;
};

class LegacyPic {
public:
    static constexpr unsigned kCascadeInput = 2;

    LegacyPic();
    LegacyPic(const LegacyPic&) = delete;
    LegacyPic& operator=(const LegacyPic&) = delete;

    Pic8259& master() { return master_; }
    Pic8259& slave() { return slave_; }
    // The two-port windows to map at 0x20 and 0xa0.
    BusDevice& master_ports() { return master_ports_; }
    BusDevice& slave_ports() { return slave_ports_; }

    // ISA IRQ 0-15.
    void set_irq(unsigned irq, bool level);
    // The vector an INTA would return now, if the master's INT is up.
    std::optional<uint8_t> pending_vector() const;
    uint8_t acknowledge();

    // Snapshot state (a trace's DEVICE_STATE); load_state throws krr::Error
    // on a malformed encoding and leaves the model unusable only then.
    void save_state(ByteWriter& out) const;
    void load_state(ByteReader& in);

private:
    class Ports final : public BusDevice {
    public:
        Ports(LegacyPic& pair, Pic8259& chip) : pair_(pair), chip_(chip) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, unsigned size, uint64_t value) override;

    private:
        LegacyPic& pair_;
        Pic8259& chip_;
    };

    void update_cascade();

    Pic8259 master_;
    Pic8259 slave_;
    Ports master_ports_;
    Ports slave_ports_;
};

} // namespace krr
