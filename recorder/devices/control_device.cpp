#include "recorder/devices/control_device.h"

namespace krr {

ControlDevice::ControlDevice(Handler handler, Log& log) : handler_(std::move(handler)), log_(log) {}

uint64_t ControlDevice::read(uint64_t offset, unsigned size) {
    if (offset == 0 && size == 4)
        return KRR_CONTROL_MAGIC;
    return ~uint64_t(0);
}

void ControlDevice::write(uint64_t offset, unsigned size, uint64_t value) {
    if (offset != 0 || size != 4) {
        log_.write(LogLevel::Warning, "control device: ignored " + std::to_string(size) +
                                          "-byte write of " + hex(value) + " at offset " +
                                          std::to_string(offset));
        return;
    }
    uint32_t message = uint32_t(value);
    ControlEvent event;
    event.command = krr_control_command_of(message);
    event.argument = krr_control_argument_of(message);
    switch (event.command) {
    case KRR_CONTROL_COMMAND_STARTS:
        event.kind = ControlEvent::Kind::CommandStarts;
        break;
    case KRR_CONTROL_EXIT_STATUS:
        event.kind = ControlEvent::Kind::ExitStatus;
        break;
    case KRR_CONTROL_POWER_OFF:
        event.kind = ControlEvent::Kind::PowerOff;
        break;
    case KRR_CONTROL_INIT_FAILED:
        event.kind = ControlEvent::Kind::InitFailed;
        break;
    default:
        event.kind = ControlEvent::Kind::Unknown;
        log_.write(LogLevel::Warning,
                   "control device: unknown command " + std::to_string(event.command));
        break;
    }
    if (handler_)
        handler_(event);
}

} // namespace krr
