// Address decoding: a bus maps address ranges to device models. The I/O port
// bus and the physical memory (MMIO) bus are the same mechanism with
// different address widths and access sizes.
//
// An access that no device claims reads as all ones and its writes are
// dropped, as on a PC; the first access to each unknown address is logged at
// debug level.
#pragma once

#include "recorder/machine/bus_device.h"
#include "recorder/machine/log.h"

#include <cstdint>
#include <map>
#include <string>

namespace krr {

class Bus {
public:
    enum class Width : uint8_t {
        // The device takes accesses of any size as they come.
        Any,
        // An 8-bit device: a wider access becomes one byte access per
        // address, in ascending order, as an ISA bus cycle splits it.
        Byte,
    };

    // Attach `device` to [base, base + length). Throws krr::Error when the
    // range is empty, too large for the bus or overlaps another device.
    void map(uint64_t base, uint64_t length, BusDevice& device, std::string name,
             Width width = Width::Any);

    uint64_t read(uint64_t address, unsigned size);
    void write(uint64_t address, unsigned size, uint64_t value);

    // The name given to the device mapped at `address`, or "" if none.
    std::string device_name(uint64_t address) const;

protected:
    Bus(std::string kind, uint64_t address_limit, unsigned max_access_size, Log& log);

private:
    struct Mapping {
        uint64_t length;
        BusDevice* device;
        std::string name;
        Width width;
    };
    const std::pair<const uint64_t, Mapping>* find(uint64_t address) const;
    void check_access(uint64_t address, unsigned size) const;

    std::string kind_;
    uint64_t address_limit_;
    unsigned max_access_size_;
    Log& log_;
    std::map<uint64_t, Mapping> mappings_;
};

// Ports 0x0000-0xffff, accesses of 1, 2 or 4 bytes.
class IoBus : public Bus {
public:
    explicit IoBus(Log& log) : Bus("port", 0x10000, 4, log) {}
};

// Guest-physical addresses outside RAM, accesses of 1, 2, 4 or 8 bytes.
class MmioBus : public Bus {
public:
    explicit MmioBus(Log& log) : Bus("physical address", ~uint64_t(0), 8, log) {}
};

} // namespace krr
