#include "recorder/devices/pic8259.h"

#include "recorder/devices/device_state_codec.h"

namespace krr {

namespace {

constexpr uint8_t kIcw1 = 0x10;
constexpr uint8_t kIcw1Icw4Needed = 0x01;
constexpr uint8_t kIcw1Single = 0x02;
constexpr uint8_t kIcw1LevelTriggered = 0x08;
constexpr uint8_t kOcw3 = 0x08;
constexpr uint8_t kOcw3ReadRegister = 0x02;
constexpr uint8_t kOcw3ReadIsr = 0x01;
constexpr uint8_t kOcw3Poll = 0x04;
constexpr uint8_t kOcw3SetSpecialMask = 0x40;
constexpr uint8_t kOcw3SpecialMask = 0x20;
constexpr uint8_t kIcw4AutoEoi = 0x02;

} // namespace

std::optional<unsigned> Pic8259::highest(uint8_t bits) const {
    for (unsigned rank = 0; rank < 8; ++rank) {
        unsigned irq = (highest_priority_ + rank) & 7;
        if (bits & (1u << irq))
            return irq;
    }
    return std::nullopt;
}

std::optional<unsigned> Pic8259::pending_input() const {
    auto request = highest(irr_ & ~imr_);
    if (!request)
        return std::nullopt;
    // In special mask mode a masked in-service input does not hold off the
    // others (OCW3 ESMM/SMM).
    uint8_t blocking = special_mask_ ? isr_ & ~imr_ : isr_;
    auto in_service = highest(blocking);
    if (in_service) {
        unsigned request_rank = (*request - highest_priority_) & 7;
        unsigned service_rank = (*in_service - highest_priority_) & 7;
        if (request_rank >= service_rank)
            return std::nullopt;
    }
    return request;
}

unsigned Pic8259::acknowledge() {
    auto irq = pending_input();
    if (!irq)
        return 7;
    uint8_t bit = uint8_t(1u << *irq);
    if (!level_triggered_)
        irr_ &= ~bit;
    if (auto_eoi_) {
        if (rotate_on_auto_eoi_)
            highest_priority_ = (*irq + 1) & 7;
    } else {
        isr_ |= bit;
    }
    return *irq;
}

void Pic8259::set_input(unsigned irq, bool level) {
    uint8_t bit = uint8_t(1u << (irq & 7));
    bool was = input_levels_ & bit;
    if (level)
        input_levels_ |= bit;
    else
        input_levels_ &= ~bit;
    if (level_triggered_) {
        if (level)
            irr_ |= bit;
        else
            irr_ &= ~bit;
    } else if (level && !was) {
        irr_ |= bit;
    }
}

void Pic8259::initialize(uint8_t icw1) {
    // ICW1 resets the edge detectors (an input that is already high must go
    // low and high again), clears the mask and in-service bits, and gives
    // IR0 the highest priority.
    isr_ = 0;
    imr_ = 0;
    highest_priority_ = 0;
    level_triggered_ = icw1 & kIcw1LevelTriggered;
    single_ = icw1 & kIcw1Single;
    expect_icw4_ = icw1 & kIcw1Icw4Needed;
    auto_eoi_ = false;
    rotate_on_auto_eoi_ = false;
    read_isr_ = false;
    poll_ = false;
    special_mask_ = false;
    irr_ = level_triggered_ ? input_levels_ : 0;
    init_step_ = 2;
}

void Pic8259::end_of_interrupt(unsigned irq, bool rotate) {
    isr_ &= uint8_t(~(1u << irq));
    if (rotate)
        highest_priority_ = (irq + 1) & 7;
}

void Pic8259::write_ocw2(uint8_t value) {
    unsigned level = value & 7;
    switch (value >> 5) {
    case 0: // rotate in automatic EOI mode: clear
        rotate_on_auto_eoi_ = false;
        break;
    case 4: // rotate in automatic EOI mode: set
        rotate_on_auto_eoi_ = true;
        break;
    case 1: // non-specific EOI
    case 5: // rotate on non-specific EOI
        if (auto irq = highest(isr_))
            end_of_interrupt(*irq, value >> 5 == 5);
        break;
    case 3: // specific EOI
        end_of_interrupt(level, false);
        break;
    case 7: // rotate on specific EOI
        end_of_interrupt(level, true);
        break;
    case 6: // set priority: `level` becomes the lowest
        highest_priority_ = (level + 1) & 7;
        break;
    default: // 2: no operation
        break;
    }
}

uint8_t Pic8259::read_port(unsigned offset) {
    if (poll_) {
        // A poll read is an INTA without the vector: it answers the highest
        // request and puts it in service.
        poll_ = false;
        auto irq = pending_input();
        if (!irq)
            return 0;
        acknowledge();
        return uint8_t(0x80 | *irq);
    }
    if (offset == 0)
        return read_isr_ ? isr_ : irr_;
    return imr_;
}

void Pic8259::write_port(unsigned offset, uint8_t byte) {
    if (offset == 0) {
        if (byte & kIcw1) {
            initialize(byte);
        } else if (byte & kOcw3) {
            if (byte & kOcw3ReadRegister)
                read_isr_ = byte & kOcw3ReadIsr;
            if (byte & kOcw3Poll)
                poll_ = true;
            if (byte & kOcw3SetSpecialMask)
                special_mask_ = byte & kOcw3SpecialMask;
        } else {
            write_ocw2(byte);
        }
        return;
    }
    switch (init_step_) {
    case 2:
        vector_base_ = byte & 0xf8;
        init_step_ = single_ ? (expect_icw4_ ? 4 : 0) : 3;
        break;
    case 3: // the cascade wiring: fixed by the machine, nothing to store
        init_step_ = expect_icw4_ ? 4 : 0;
        break;
    case 4:
        auto_eoi_ = byte & kIcw4AutoEoi;
        init_step_ = 0;
        break;
    default:
        imr_ = byte;
        break;
    }
}

LegacyPic::LegacyPic() : master_ports_(*this, master_), slave_ports_(*this, slave_) {}

uint64_t LegacyPic::Ports::read(uint64_t offset, unsigned) {
    uint8_t value = chip_.read_port(unsigned(offset & 1));
    pair_.update_cascade();
    return value;
}

void LegacyPic::Ports::write(uint64_t offset, unsigned, uint64_t value) {
    chip_.write_port(unsigned(offset & 1), uint8_t(value));
    pair_.update_cascade();
}

void LegacyPic::update_cascade() {
    master_.set_input(kCascadeInput, slave_.pending_input().has_value());
}

void LegacyPic::set_irq(unsigned irq, bool level) {
    if (irq >= 8)
        slave_.set_input(irq - 8, level);
    else
        master_.set_input(irq, level);
    update_cascade();
}

std::optional<uint8_t> LegacyPic::pending_vector() const {
    auto irq = master_.pending_input();
    if (!irq)
        return std::nullopt;
    if (*irq == kCascadeInput && !master_.single()) {
        auto slave_irq = slave_.pending_input();
        return uint8_t(slave_.vector_base() + (slave_irq ? *slave_irq : 7));
    }
    return uint8_t(master_.vector_base() + *irq);
}

uint8_t LegacyPic::acknowledge() {
    unsigned irq = master_.acknowledge();
    uint8_t vector;
    if (irq == kCascadeInput && !master_.single())
        vector = uint8_t(slave_.vector_base() + slave_.acknowledge());
    else
        vector = uint8_t(master_.vector_base() + irq);
    update_cascade();
    return vector;
}

void Pic8259::save_state(ByteWriter& out) const {
    out.u8(1);
    for (uint8_t v : {irr_, isr_, imr_, input_levels_, vector_base_, highest_priority_, init_step_})
        out.u8(v);
    for (bool f : {level_triggered_, single_, expect_icw4_, auto_eoi_, rotate_on_auto_eoi_,
                   read_isr_, poll_, special_mask_})
        put_flag(out, f);
}

void Pic8259::load_state(ByteReader& in) {
    expect_version(in, 1);
    irr_ = in.u8();
    isr_ = in.u8();
    imr_ = in.u8();
    input_levels_ = in.u8();
    vector_base_ = in.u8() & 0xf8;
    highest_priority_ = uint8_t(check_range(in, in.u8(), 0, 7, "8259 priority"));
    init_step_ = in.u8();
    if (init_step_ == 1 || init_step_ > 4)
        in.fail("8259 initialization step " + std::to_string(init_step_));
    level_triggered_ = get_flag(in);
    single_ = get_flag(in);
    expect_icw4_ = get_flag(in);
    auto_eoi_ = get_flag(in);
    rotate_on_auto_eoi_ = get_flag(in);
    read_isr_ = get_flag(in);
    poll_ = get_flag(in);
    special_mask_ = get_flag(in);
}

void LegacyPic::save_state(ByteWriter& out) const {
    master_.save_state(out);
    slave_.save_state(out);
}

void LegacyPic::load_state(ByteReader& in) {
    master_.load_state(in);
    slave_.load_state(in);
}

} // namespace krr
