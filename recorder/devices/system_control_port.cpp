#include "recorder/devices/system_control_port.h"

#include "recorder/devices/device_state_codec.h"

namespace krr {

namespace {

constexpr uint8_t kTimer2Gate = 0x01;
constexpr uint8_t kWritable = 0x0f;
constexpr uint8_t kRefreshToggle = 0x10;
constexpr uint8_t kTimer2Output = 0x20;

} // namespace

uint64_t SystemControlPort::read(uint64_t, unsigned) {
    uint8_t value = written_;
    if ((pit_.now() / kRefreshPeriodNs) & 1)
        value |= kRefreshToggle;
    if (pit_.output(2))
        value |= kTimer2Output;
    return value;
}

void SystemControlPort::write(uint64_t, unsigned, uint64_t value) {
    written_ = uint8_t(value) & kWritable;
    pit_.set_gate(2, written_ & kTimer2Gate);
}

void SystemControlPort::save_state(ByteWriter& out) const {
    out.u8(1);
    out.u8(written_);
}

void SystemControlPort::load_state(ByteReader& in) {
    expect_version(in, 1);
    written_ = in.u8() & kWritable;
}

} // namespace krr
