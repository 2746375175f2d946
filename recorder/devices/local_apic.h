// One vCPU's local APIC (xAPIC, integrated, version 0x14 with six LVT
// entries: timer, thermal, performance counter, LINT0, LINT1, error) in its
// 4 KiB window at 0xfee00000. No x2APIC and no TSC-deadline timer: the
// machine's CPUID does not offer them.
//
// The vCPU loop asks pending_vector() between instructions and, when it
// delivers, acknowledge() moves the vector from IRR to ISR. INIT, STARTUP
// and NMI messages are not executed here: they become requests the vCPU
// layer takes with take_requests().
#pragma once

#include "guest-model/byte_codec.h"
#include "recorder/devices/apic_message.h"
#include "recorder/machine/bus_device.h"

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

namespace krr {

struct ApicRequests {
    bool init = false;
    std::optional<uint8_t> startup_vector;
    bool nmi = false;

    bool any() const { return init || startup_vector || nmi; }
};

class LocalApic final : public BusDevice {
public:
    static constexpr uint64_t kWindowSize = 0x1000;
    static constexpr uint32_t kVersion = 0x00050014; // max LVT index 5, version 0x14

    struct Wiring {
        // An IPI written to the ICR, to be routed to its destinations.
        std::function<void(const ApicMessage&)> send;
        // EOI of a level-triggered vector, for the I/O APIC's Remote IRR.
        std::function<void(uint8_t vector)> end_of_interrupt;
    };

    LocalApic(uint8_t id, Wiring wiring);

    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, unsigned size, uint64_t value) override;

    // Virtual time of this APIC's vCPU, in nanoseconds. Never goes back.
    void advance_to(uint64_t now_ns);
    // The next time the timer expires, if it is counting.
    std::optional<uint64_t> next_deadline() const;

    // A message from the APIC bus addressed to this APIC.
    void accept(const ApicMessage& message);
    // LINT0/LINT1 input levels (LINT0 is wired to the 8259's INT output).
    void set_lint(unsigned index, bool level);

    // The highest vector in IRR whose priority class is above PPR.
    std::optional<uint8_t> pending_vector() const;
    uint8_t acknowledge();
    // An ExtINT message arrived (from an I/O APIC entry in ExtINT mode); the
    // vector comes from the 8259 at acknowledge.
    bool extint_requested() const { return extint_requested_; }
    void acknowledge_extint() { extint_requested_ = false; }
    // LINT0 is unmasked in ExtINT mode: the 8259's INT output reaches the CPU.
    bool lint0_passes_extint() const;
    ApicRequests take_requests();

    uint8_t id() const { return id_; }
    uint8_t logical_id() const { return uint8_t(ldr_ >> 24); }
    bool flat_model() const { return (dfr_ >> 28) == 0xf; }
    bool software_enabled() const { return svr_ & 0x100; }
    uint8_t processor_priority() const;
    bool in_irr(uint8_t vector) const { return test(irr_, vector); }
    bool in_isr(uint8_t vector) const { return test(isr_, vector); }
    uint32_t timer_current_count() const;

    // Snapshot state (a trace's DEVICE_STATE); load_state throws krr::Error
    // on a malformed encoding and leaves the model unusable only then.
    void save_state(ByteWriter& out) const;
    void load_state(ByteReader& in);

private:
    using VectorSet = std::array<uint32_t, 8>;
    static bool test(const VectorSet& set, uint8_t vector) {
        return set[vector >> 5] & (1u << (vector & 31));
    }
    static void set_bit(VectorSet& set, uint8_t vector, bool value);
    static std::optional<uint8_t> highest(const VectorSet& set);

    uint32_t read_register(uint32_t offset) const;
    void write_register(uint32_t offset, uint32_t value);
    void write_lvt(unsigned index, uint32_t value);
    void raise(uint8_t vector, bool level_triggered);
    void end_of_interrupt();
    void send_ipi();
    void report_error(uint32_t bits);
    void reset();
    unsigned timer_divisor() const;
    void restart_timer(uint32_t count);
    uint64_t timer_expiry(uint64_t n) const;
    uint64_t timer_decrements(uint64_t now_ns) const;

    uint8_t id_;
    Wiring wiring_;
    uint64_t now_ = 0;

    uint32_t tpr_ = 0;
    uint32_t ldr_ = 0;
    uint32_t dfr_ = 0xffffffff;
    uint32_t svr_ = 0xff;
    uint32_t esr_ = 0;         // as last latched by a write to ESR
    uint32_t esr_pending_ = 0; // errors since then
    uint32_t icr_low_ = 0;
    uint32_t icr_high_ = 0;
    // LVT: timer, thermal, performance counter, LINT0, LINT1, error.
    std::array<uint32_t, 6> lvt_;
    std::array<bool, 2> lint_level_{};
    VectorSet irr_{};
    VectorSet isr_{};
    VectorSet tmr_{};
    bool extint_requested_ = false;
    ApicRequests requests_;

    // Timer: counting from `timer_start_count_` at `timer_start_`; after
    // reaching zero a periodic timer reloads `timer_initial_`.
    uint32_t timer_initial_ = 0;
    uint32_t timer_start_count_ = 0;
    uint64_t timer_start_ = 0;
    uint32_t divide_config_ = 0;
    uint64_t timer_expiries_seen_ = 0;
};

} // namespace krr
