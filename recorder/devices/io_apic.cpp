#include "recorder/devices/io_apic.h"

#include "recorder/devices/device_state_codec.h"

namespace krr {

namespace {

constexpr uint64_t kRegisterSelect = 0x00;
constexpr uint64_t kRegisterWindow = 0x10;
constexpr uint8_t kIdRegister = 0x00;
constexpr uint8_t kVersionRegister = 0x01;
constexpr uint8_t kArbitrationRegister = 0x02;
constexpr uint8_t kFirstRedirectionRegister = 0x10;

constexpr uint64_t kDeliveryStatus = uint64_t(1) << 12;
constexpr uint64_t kRemoteIrr = uint64_t(1) << 14;
constexpr uint64_t kLevelTriggered = uint64_t(1) << 15;
constexpr uint64_t kLogicalDestination = uint64_t(1) << 11;
// Vector, delivery mode, destination mode, polarity, trigger, mask, destination.
constexpr uint64_t kWritableBits = 0xff000000'0001afffULL;

bool level_triggered(uint64_t entry) {
    return entry & kLevelTriggered;
}
bool masked(uint64_t entry) {
    return entry & IoApic::kMasked;
}

} // namespace

IoApic::IoApic(uint8_t id, Deliver deliver) : id_(id), deliver_(std::move(deliver)) {
    redirection_.fill(kMasked);
}

uint32_t IoApic::read_register(uint8_t index) const {
    switch (index) {
    case kIdRegister:
        return uint32_t(id_ & 0xf) << 24;
    case kVersionRegister:
        return ((kPins - 1) << 16) | kVersion;
    case kArbitrationRegister:
        return uint32_t(id_ & 0xf) << 24;
    default:
        break;
    }
    if (index >= kFirstRedirectionRegister && index < kFirstRedirectionRegister + 2 * kPins) {
        uint64_t entry = redirection_[(index - kFirstRedirectionRegister) / 2];
        return (index & 1) ? uint32_t(entry >> 32) : uint32_t(entry);
    }
    return 0;
}

void IoApic::write_register(uint8_t index, uint32_t value) {
    if (index == kIdRegister) {
        id_ = (value >> 24) & 0xf;
        return;
    }
    if (index < kFirstRedirectionRegister || index >= kFirstRedirectionRegister + 2 * kPins)
        return;
    unsigned pin = (index - kFirstRedirectionRegister) / 2;
    uint64_t& entry = redirection_[pin];
    uint64_t written = (index & 1) ? (uint64_t(value) << 32) | uint32_t(entry)
                                   : (entry & 0xffffffff00000000ULL) | value;
    uint64_t read_only = entry & (kDeliveryStatus | kRemoteIrr);
    entry = (written & kWritableBits) | read_only;
    // Remote IRR means nothing for an edge-triggered entry.
    if (!level_triggered(entry))
        entry &= ~kRemoteIrr;
    // Unmasking a level-triggered input that is still asserted delivers it.
    if (level_triggered(entry))
        service(pin);
}

void IoApic::service(unsigned pin) {
    uint64_t& entry = redirection_[pin];
    if (masked(entry) || !(asserted_ & (1u << pin)))
        return;
    if (level_triggered(entry)) {
        if (entry & kRemoteIrr)
            return;
    }
    ApicMessage message;
    message.vector = uint8_t(entry);
    message.mode = ApicDeliveryMode((entry >> 8) & 7);
    message.logical_destination = entry & kLogicalDestination;
    message.destination = uint8_t(entry >> 56);
    message.level_triggered = level_triggered(entry);
    bool fixed =
        message.mode == ApicDeliveryMode::Fixed || message.mode == ApicDeliveryMode::LowestPriority;
    if (message.level_triggered && fixed)
        entry |= kRemoteIrr;
    if (deliver_)
        deliver_(message);
}

void IoApic::set_irq(unsigned pin, bool asserted) {
    if (pin >= kPins)
        return;
    uint32_t bit = 1u << pin;
    bool was = asserted_ & bit;
    if (asserted)
        asserted_ |= bit;
    else
        asserted_ &= ~bit;
    if (!asserted)
        return;
    if (level_triggered(redirection_[pin]) || !was)
        service(pin);
}

void IoApic::end_of_interrupt(uint8_t vector) {
    for (unsigned pin = 0; pin < kPins; ++pin) {
        uint64_t& entry = redirection_[pin];
        if (!(entry & kRemoteIrr) || uint8_t(entry) != vector)
            continue;
        entry &= ~kRemoteIrr;
        service(pin);
    }
}

uint64_t IoApic::read(uint64_t offset, unsigned size) {
    uint64_t value = 0;
    if (offset == kRegisterSelect)
        value = select_;
    else if (offset == kRegisterWindow)
        value = read_register(select_);
    (void)size;
    return value;
}

void IoApic::write(uint64_t offset, unsigned size, uint64_t value) {
    (void)size;
    if (offset == kRegisterSelect)
        select_ = uint8_t(value);
    else if (offset == kRegisterWindow)
        write_register(select_, uint32_t(value));
}

void IoApic::save_state(ByteWriter& out) const {
    out.u8(1);
    out.u8(id_);
    out.u8(select_);
    for (uint64_t entry : redirection_)
        out.u64(entry);
    out.u32(asserted_);
}

void IoApic::load_state(ByteReader& in) {
    expect_version(in, 1);
    id_ = uint8_t(check_range(in, in.u8(), 0, 15, "I/O APIC ID"));
    select_ = in.u8();
    for (uint64_t& entry : redirection_)
        entry = in.u64() & (kWritableBits | kDeliveryStatus | kRemoteIrr);
    asserted_ = in.u32() & ((1u << kPins) - 1);
}

} // namespace krr
