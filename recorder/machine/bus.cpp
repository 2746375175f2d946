#include "recorder/machine/bus.h"

#include "guest-model/error.h"

#include <iterator>

namespace krr {

namespace {

uint64_t size_mask(unsigned size) {
    return size >= 8 ? ~uint64_t(0) : (uint64_t(1) << (size * 8)) - 1;
}

} // namespace

Bus::Bus(std::string kind, uint64_t address_limit, unsigned max_access_size, Log& log)
    : kind_(std::move(kind)), address_limit_(address_limit), max_access_size_(max_access_size),
      log_(log) {}

void Bus::map(uint64_t base, uint64_t length, BusDevice& device, std::string name, Width width) {
    std::string what = "mapping " + name + " at " + kind_ + " " + hex(base);
    if (length == 0)
        throw Error(what, "empty range");
    if (base >= address_limit_ || length > address_limit_ - base)
        throw Error(what, "a range of " + hex(length) + " bytes does not fit the bus");
    auto next = mappings_.lower_bound(base);
    if (next != mappings_.end() && next->first - base < length)
        throw Error(what, "overlaps " + next->second.name);
    if (next != mappings_.begin()) {
        auto prev = std::prev(next);
        if (base - prev->first < prev->second.length)
            throw Error(what, "overlaps " + prev->second.name);
    }
    mappings_.emplace(base, Mapping{length, &device, std::move(name), width});
}

const std::pair<const uint64_t, Bus::Mapping>* Bus::find(uint64_t address) const {
    auto it = mappings_.upper_bound(address);
    if (it == mappings_.begin())
        return nullptr;
    --it;
    if (address - it->first >= it->second.length)
        return nullptr;
    return &*it;
}

void Bus::check_access(uint64_t address, unsigned size) const {
    bool size_ok = size == 1 || size == 2 || size == 4 || (size == 8 && max_access_size_ >= 8);
    if (!size_ok)
        throw Error(kind_ + " access at " + hex(address),
                    "unsupported access size " + std::to_string(size));
    if (address >= address_limit_)
        throw Error(kind_ + " access at " + hex(address), "address out of range");
}

uint64_t Bus::read(uint64_t address, unsigned size) {
    check_access(address, size);
    if (auto* m = find(address)) {
        if (m->second.width == Width::Byte && size > 1) {
            uint64_t value = 0;
            for (unsigned i = 0; i < size && address + i < address_limit_; ++i)
                value |= read(address + i, 1) << (8 * i);
            return value;
        }
        return m->second.device->read(address - m->first, size) & size_mask(size);
    }
    if (log_.enabled(LogLevel::Debug))
        log_.write_once(LogLevel::Debug, address,
                        "read of unknown " + kind_ + " " + hex(address) + " (" +
                            std::to_string(size) + " bytes)");
    return size_mask(size);
}

void Bus::write(uint64_t address, unsigned size, uint64_t value) {
    check_access(address, size);
    if (auto* m = find(address)) {
        if (m->second.width == Width::Byte && size > 1) {
            for (unsigned i = 0; i < size && address + i < address_limit_; ++i)
                write(address + i, 1, (value >> (8 * i)) & 0xff);
            return;
        }
        m->second.device->write(address - m->first, size, value & size_mask(size));
        return;
    }
    if (log_.enabled(LogLevel::Debug))
        log_.write_once(LogLevel::Debug, address,
                        "write of " + hex(value & size_mask(size)) + " to unknown " + kind_ + " " +
                            hex(address) + " (" + std::to_string(size) + " bytes)");
}

std::string Bus::device_name(uint64_t address) const {
    auto* m = find(address);
    return m ? m->second.name : std::string();
}

} // namespace krr
