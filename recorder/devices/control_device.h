// The krr control device at ports 0x7e0-0x7e3 (guest-model/
// control_device_protocol.h): the guest's init announces "the command
// starts", its exit status, "power off" and "init failed". A 32-bit read of
// the first port answers the magic so init knows it runs under krr.
#pragma once

#include "guest-model/control_device_protocol.h"
#include "recorder/machine/bus_device.h"
#include "recorder/machine/log.h"

#include <cstdint>
#include <functional>

namespace krr {

struct ControlEvent {
    enum class Kind : uint8_t { CommandStarts, ExitStatus, PowerOff, InitFailed, Unknown };

    Kind kind = Kind::Unknown;
    uint32_t command = 0; // as written, also for Unknown
    uint32_t argument = 0;

    // For ExitStatus: the command was killed by signal `argument & 0xff`.
    bool killed_by_signal() const { return argument & KRR_CONTROL_KILLED_BY_SIGNAL; }
    unsigned status_or_signal() const { return argument & 0xff; }
};

class ControlDevice final : public BusDevice {
public:
    using Handler = std::function<void(const ControlEvent&)>;

    ControlDevice(Handler handler, Log& log);

    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, unsigned size, uint64_t value) override;

private:
    Handler handler_;
    Log& log_;
};

} // namespace krr
