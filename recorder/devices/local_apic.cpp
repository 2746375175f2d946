#include "recorder/devices/local_apic.h"

#include "recorder/devices/device_state_codec.h"
#include "guest-model/virtual_clock.h"

namespace krr {

namespace {

constexpr uint32_t kLvtMasked = 1u << 16;
constexpr uint32_t kLvtTimerPeriodic = 1u << 17;
constexpr uint32_t kSvrEnable = 0x100;
constexpr uint32_t kIcrDeliveryStatus = 1u << 12;

constexpr uint32_t kErrorSendIllegalVector = 0x20;
constexpr uint32_t kErrorReceiveIllegalVector = 0x40;

enum LvtIndex : unsigned { Timer, Thermal, Performance, Lint0, Lint1, ErrorLvt };
// Bits software may set in each LVT entry (delivery status and remote IRR
// are read-only; bit 18, the TSC-deadline mode, does not exist here).
constexpr std::array<uint32_t, 6> kLvtWritable = {
    0x000300ff, 0x000107ff, 0x000107ff, 0x0001a7ff, 0x0001a7ff, 0x000100ff,
};

enum Register : uint32_t {
    kId = 0x20,
    kVersionRegister = 0x30,
    kTpr = 0x80,
    kApr = 0x90,
    kPpr = 0xa0,
    kEoi = 0xb0,
    kLdr = 0xd0,
    kDfr = 0xe0,
    kSvr = 0xf0,
    kIsr = 0x100,
    kTmr = 0x180,
    kIrr = 0x200,
    kEsr = 0x280,
    kIcrLow = 0x300,
    kIcrHigh = 0x310,
    kLvtFirst = 0x320,
    kLvtLast = 0x370,
    kTimerInitial = 0x380,
    kTimerCurrent = 0x390,
    kTimerDivide = 0x3e0,
};

} // namespace

LocalApic::LocalApic(uint8_t id, Wiring wiring) : id_(id), wiring_(std::move(wiring)) {
    reset();
}

void LocalApic::reset() {
    tpr_ = 0;
    ldr_ = 0;
    dfr_ = 0xffffffff;
    svr_ = 0xff;
    esr_ = esr_pending_ = 0;
    icr_low_ = icr_high_ = 0;
    lvt_.fill(kLvtMasked);
    irr_ = {};
    isr_ = {};
    tmr_ = {};
    extint_requested_ = false;
    timer_initial_ = timer_start_count_ = 0;
    divide_config_ = 0;
    timer_expiries_seen_ = 0;
}

void LocalApic::set_bit(VectorSet& set, uint8_t vector, bool value) {
    uint32_t bit = 1u << (vector & 31);
    if (value)
        set[vector >> 5] |= bit;
    else
        set[vector >> 5] &= ~bit;
}

std::optional<uint8_t> LocalApic::highest(const VectorSet& set) {
    for (int word = 7; word >= 0; --word) {
        if (set[word])
            return uint8_t(word * 32 + 31 - __builtin_clz(set[word]));
    }
    return std::nullopt;
}

uint8_t LocalApic::processor_priority() const {
    uint8_t in_service = highest(isr_).value_or(0);
    if ((tpr_ & 0xf0) >= (in_service & 0xf0))
        return uint8_t(tpr_);
    return in_service & 0xf0;
}

std::optional<uint8_t> LocalApic::pending_vector() const {
    auto vector = highest(irr_);
    if (!vector || (*vector & 0xf0) <= (processor_priority() & 0xf0))
        return std::nullopt;
    return vector;
}

uint8_t LocalApic::acknowledge() {
    // The caller checked pending_vector(); a spurious acknowledge gets the
    // spurious vector, as a CPU whose interrupt vanished would.
    auto vector = pending_vector();
    if (!vector)
        return uint8_t(svr_);
    set_bit(irr_, *vector, false);
    set_bit(isr_, *vector, true);
    return *vector;
}

bool LocalApic::lint0_passes_extint() const {
    uint32_t entry = lvt_[Lint0];
    return !(entry & kLvtMasked) && ((entry >> 8) & 7) == uint32_t(ApicDeliveryMode::ExtInt);
}

ApicRequests LocalApic::take_requests() {
    ApicRequests taken = requests_;
    requests_ = {};
    return taken;
}

void LocalApic::raise(uint8_t vector, bool level_triggered) {
    set_bit(irr_, vector, true);
    set_bit(tmr_, vector, level_triggered);
}

void LocalApic::report_error(uint32_t bits) {
    esr_pending_ |= bits;
    uint32_t entry = lvt_[ErrorLvt];
    if (!(entry & kLvtMasked) && uint8_t(entry) >= 16)
        raise(uint8_t(entry), false);
}

void LocalApic::accept(const ApicMessage& message) {
    switch (message.mode) {
    case ApicDeliveryMode::Fixed:
    case ApicDeliveryMode::LowestPriority:
        // A software-disabled APIC does not accept fixed interrupts.
        if (!software_enabled())
            return;
        if (message.vector < 16) {
            report_error(kErrorReceiveIllegalVector);
            return;
        }
        raise(message.vector, message.level_triggered);
        return;
    case ApicDeliveryMode::Nmi:
        requests_.nmi = true;
        return;
    case ApicDeliveryMode::Init:
        if (!message.assert_level)
            return;
        // INIT puts the APIC back in its power-up state, ID kept; the
        // vCPU layer resets the CPU and waits for STARTUP.
        reset();
        requests_.init = true;
        return;
    case ApicDeliveryMode::Startup:
        requests_.startup_vector = message.vector;
        return;
    case ApicDeliveryMode::ExtInt:
        extint_requested_ = true;
        return;
    case ApicDeliveryMode::Smi:
        return;
    }
}

void LocalApic::set_lint(unsigned index, bool level) {
    if (index > 1)
        return;
    bool was = lint_level_[index];
    lint_level_[index] = level;
    uint32_t entry = lvt_[Lint0 + index];
    if ((entry & kLvtMasked) || !level || was)
        return;
    switch (ApicDeliveryMode((entry >> 8) & 7)) {
    case ApicDeliveryMode::Fixed:
        if (software_enabled() && uint8_t(entry) >= 16)
            raise(uint8_t(entry), false);
        break;
    case ApicDeliveryMode::Nmi:
        requests_.nmi = true;
        break;
    default: // ExtINT is level-sensitive: see lint0_passes_extint()
        break;
    }
}

void LocalApic::end_of_interrupt() {
    auto vector = highest(isr_);
    if (!vector)
        return;
    set_bit(isr_, *vector, false);
    if (test(tmr_, *vector) && wiring_.end_of_interrupt)
        wiring_.end_of_interrupt(*vector);
}

void LocalApic::send_ipi() {
    ApicMessage message;
    message.vector = uint8_t(icr_low_);
    message.mode = ApicDeliveryMode((icr_low_ >> 8) & 7);
    message.logical_destination = icr_low_ & (1u << 11);
    message.assert_level = icr_low_ & (1u << 14);
    message.level_triggered = icr_low_ & (1u << 15);
    message.shorthand = ApicShorthand((icr_low_ >> 18) & 3);
    message.destination = uint8_t(icr_high_ >> 24);
    bool fixed =
        message.mode == ApicDeliveryMode::Fixed || message.mode == ApicDeliveryMode::LowestPriority;
    if (fixed && message.vector < 16) {
        report_error(kErrorSendIllegalVector);
        return;
    }
    if (wiring_.send)
        wiring_.send(message);
}

unsigned LocalApic::timer_divisor() const {
    unsigned code = (divide_config_ & 3) | ((divide_config_ >> 1) & 4);
    return code == 7 ? 1 : 2u << code;
}

uint64_t LocalApic::timer_decrements(uint64_t now_ns) const {
    uint64_t bus_ticks = VirtualClock::ticks(now_ns - timer_start_, VirtualClock::kApicBusHz);
    return bus_ticks / timer_divisor();
}

// The time of the n-th expiry (n >= 1) since the timer was last started.
uint64_t LocalApic::timer_expiry(uint64_t n) const {
    uint64_t decrements = timer_start_count_ + (n - 1) * uint64_t(timer_initial_);
    return timer_start_ +
           VirtualClock::time_of_tick(decrements * timer_divisor(), VirtualClock::kApicBusHz);
}

uint32_t LocalApic::timer_current_count() const {
    if (timer_start_count_ == 0)
        return 0;
    uint64_t done = timer_decrements(now_);
    if (done < timer_start_count_)
        return uint32_t(timer_start_count_ - done);
    if (!(lvt_[Timer] & kLvtTimerPeriodic) || timer_initial_ == 0)
        return 0;
    return uint32_t(timer_initial_ - (done - timer_start_count_) % timer_initial_);
}

void LocalApic::restart_timer(uint32_t count) {
    timer_start_ = now_;
    timer_start_count_ = count;
    timer_expiries_seen_ = 0;
}

void LocalApic::advance_to(uint64_t now_ns) {
    if (now_ns < now_)
        return;
    now_ = now_ns;
    if (timer_start_count_ == 0)
        return;
    uint64_t done = timer_decrements(now_);
    uint64_t expiries = 0;
    if (done >= timer_start_count_) {
        bool periodic = (lvt_[Timer] & kLvtTimerPeriodic) && timer_initial_ != 0;
        expiries = periodic ? 1 + (done - timer_start_count_) / timer_initial_ : 1;
    }
    if (expiries <= timer_expiries_seen_)
        return;
    // Expiries the vCPU did not see between two advances coalesce in IRR,
    // as they would on hardware whose CPU had interrupts off.
    timer_expiries_seen_ = expiries;
    uint32_t entry = lvt_[Timer];
    if (!(entry & kLvtMasked) && software_enabled())
        raise(uint8_t(entry), false);
}

std::optional<uint64_t> LocalApic::next_deadline() const {
    if (timer_start_count_ == 0)
        return std::nullopt;
    bool periodic = (lvt_[Timer] & kLvtTimerPeriodic) && timer_initial_ != 0;
    if (!periodic && timer_expiries_seen_ >= 1)
        return std::nullopt;
    return timer_expiry(timer_expiries_seen_ + 1);
}

uint32_t LocalApic::read_register(uint32_t offset) const {
    if (offset >= kIsr && offset < kIsr + 0x80)
        return isr_[(offset - kIsr) >> 4];
    if (offset >= kTmr && offset < kTmr + 0x80)
        return tmr_[(offset - kTmr) >> 4];
    if (offset >= kIrr && offset < kIrr + 0x80)
        return irr_[(offset - kIrr) >> 4];
    if (offset >= kLvtFirst && offset <= kLvtLast)
        return lvt_[(offset - kLvtFirst) >> 4];
    switch (offset) {
    case kId:
        return uint32_t(id_) << 24;
    case kVersionRegister:
        return kVersion;
    case kTpr:
        return tpr_;
    case kApr:
        return 0;
    case kPpr:
        return processor_priority();
    case kLdr:
        return ldr_;
    case kDfr:
        return dfr_;
    case kSvr:
        return svr_;
    case kEsr:
        return esr_;
    case kIcrLow:
        return icr_low_ & ~kIcrDeliveryStatus;
    case kIcrHigh:
        return icr_high_;
    case kTimerInitial:
        return timer_initial_;
    case kTimerCurrent:
        return timer_current_count();
    case kTimerDivide:
        return divide_config_;
    default:
        return 0;
    }
}

void LocalApic::write_lvt(unsigned index, uint32_t value) {
    uint32_t entry = (lvt_[index] & ~kLvtWritable[index]) | (value & kLvtWritable[index]);
    if (!software_enabled())
        entry |= kLvtMasked;
    if (index == Timer && ((entry ^ lvt_[Timer]) & kLvtTimerPeriodic)) {
        // A mode change counts on from where the timer is now.
        uint32_t count = timer_current_count();
        lvt_[Timer] = entry;
        restart_timer(count);
        return;
    }
    lvt_[index] = entry;
}

void LocalApic::write_register(uint32_t offset, uint32_t value) {
    if (offset >= kLvtFirst && offset <= kLvtLast) {
        write_lvt((offset - kLvtFirst) >> 4, value);
        return;
    }
    switch (offset) {
    case kTpr:
        tpr_ = value & 0xff;
        break;
    case kEoi:
        end_of_interrupt();
        break;
    case kLdr:
        ldr_ = value & 0xff000000;
        break;
    case kDfr:
        dfr_ = (value & 0xf0000000) | 0x0fffffff;
        break;
    case kSvr:
        svr_ = value & 0x3ff;
        if (!(svr_ & kSvrEnable)) {
            for (uint32_t& entry : lvt_)
                entry |= kLvtMasked;
        }
        break;
    case kEsr:
        esr_ = esr_pending_;
        esr_pending_ = 0;
        break;
    case kIcrHigh:
        icr_high_ = value & 0xff000000;
        break;
    case kIcrLow:
        icr_low_ = value & ~kIcrDeliveryStatus;
        send_ipi();
        break;
    case kTimerInitial:
        timer_initial_ = value;
        restart_timer(value);
        break;
    case kTimerDivide: {
        uint32_t count = timer_current_count();
        divide_config_ = value & 0xb;
        restart_timer(count);
        break;
    }
    default: // read-only or reserved: ignored
        break;
    }
}

uint64_t LocalApic::read(uint64_t offset, unsigned size) {
    uint32_t value = read_register(uint32_t(offset & 0xff0));
    (void)size;
    return value >> ((offset & 3) * 8);
}

void LocalApic::write(uint64_t offset, unsigned size, uint64_t value) {
    // The registers are 32 bits wide at 16-byte alignment; narrower or
    // misaligned writes have undefined effect on hardware and are dropped.
    if (size < 4 || (offset & 0xf) != 0)
        return;
    write_register(uint32_t(offset & 0xff0), uint32_t(value));
}

void LocalApic::save_state(ByteWriter& out) const {
    out.u8(1);
    out.u8(id_);
    out.u64(now_);
    for (uint32_t v : {tpr_, ldr_, dfr_, svr_, esr_, esr_pending_, icr_low_, icr_high_})
        out.u32(v);
    for (uint32_t v : lvt_)
        out.u32(v);
    put_flag(out, lint_level_[0]);
    put_flag(out, lint_level_[1]);
    for (const VectorSet* set : {&irr_, &isr_, &tmr_})
        for (uint32_t word : *set)
            out.u32(word);
    put_flag(out, extint_requested_);
    put_flag(out, requests_.init);
    put_flag(out, requests_.startup_vector.has_value());
    out.u8(requests_.startup_vector.value_or(0));
    put_flag(out, requests_.nmi);
    out.u32(timer_initial_);
    out.u32(timer_start_count_);
    out.u64(timer_start_);
    out.u32(divide_config_);
    out.u64(timer_expiries_seen_);
}

void LocalApic::load_state(ByteReader& in) {
    expect_version(in, 1);
    uint8_t id = in.u8();
    if (id != id_)
        in.fail("state of local APIC " + std::to_string(id) + " given to local APIC " +
                std::to_string(id_));
    now_ = in.u64();
    tpr_ = in.u32() & 0xff;
    ldr_ = in.u32() & 0xff000000;
    dfr_ = (in.u32() & 0xf0000000) | 0x0fffffff;
    svr_ = in.u32() & 0x3ff;
    esr_ = in.u32();
    esr_pending_ = in.u32();
    icr_low_ = in.u32() & ~kIcrDeliveryStatus;
    icr_high_ = in.u32() & 0xff000000;
    for (unsigned i = 0; i < lvt_.size(); ++i)
        lvt_[i] = in.u32() & (kLvtWritable[i] | (1u << 12) | (1u << 14));
    lint_level_[0] = get_flag(in);
    lint_level_[1] = get_flag(in);
    for (VectorSet* set : {&irr_, &isr_, &tmr_})
        for (uint32_t& word : *set)
            word = in.u32();
    extint_requested_ = get_flag(in);
    requests_.init = get_flag(in);
    bool has_startup = get_flag(in);
    uint8_t startup = in.u8();
    requests_.startup_vector = has_startup ? std::optional<uint8_t>(startup) : std::nullopt;
    requests_.nmi = get_flag(in);
    timer_initial_ = in.u32();
    timer_start_count_ = in.u32();
    timer_start_ = in.u64();
    divide_config_ = in.u32() & 0xb;
    timer_expiries_seen_ = in.u64();
    if (timer_start_ > now_)
        in.fail("local APIC timer started after the APIC's present time");
}

} // namespace krr
