// Port 0x61, the PC's system control port B: bit 0 gates PIT channel 2,
// bit 1 enables the speaker; reads add the DRAM refresh toggle (bit 4) and
// PIT channel 2's output (bit 5), which the kernel's pit_calibrate_tsc()
// polls. Bits 2 and 3 (parity and I/O check enables) read back as written;
// the error bits 6 and 7 never set.
#pragma once

#include "guest-model/byte_codec.h"
#include "recorder/devices/pit8254.h"
#include "recorder/machine/bus_device.h"

#include <cstdint>

namespace krr {

class SystemControlPort final : public BusDevice {
public:
    // A refresh request every 15.085 us, as on the PC/AT.
    static constexpr uint64_t kRefreshPeriodNs = 15085;

    explicit SystemControlPort(Pit8254& pit) : pit_(pit) { pit_.set_gate(2, false); }

    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, unsigned size, uint64_t value) override;

    // Snapshot state (a trace's DEVICE_STATE); load_state throws krr::Error
    // on a malformed encoding and leaves the model unusable only then.
    void save_state(ByteWriter& out) const;
    void load_state(ByteReader& in);

private:
    Pit8254& pit_;
    uint8_t written_ = 0;
};

} // namespace krr
