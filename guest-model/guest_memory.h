// Guest-physical RAM: one anonymous mapping (page aligned, so KVM can use it
// as a memory slot), addressed from guest-physical 0. Accesses outside RAM are
// reported to the caller, who routes them to MMIO or treats them as a fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace krr {

inline constexpr uint64_t kPageSize = 4096;

class GuestMemory {
public:
    explicit GuestMemory(uint64_t size_bytes);  // throws krr::Error
    ~GuestMemory();
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    uint64_t size() const { return size_; }
    uint8_t* base() { return base_; }
    const uint8_t* base() const { return base_; }

    bool contains(uint64_t gpa, uint64_t len) const {
        return gpa <= size_ && len <= size_ - gpa;
    }
    // Host pointer for [gpa, gpa+len), or nullptr when any of it is not RAM.
    uint8_t* host(uint64_t gpa, uint64_t len) { return contains(gpa, len) ? base_ + gpa : nullptr; }
    const uint8_t* host(uint64_t gpa, uint64_t len) const {
        return contains(gpa, len) ? base_ + gpa : nullptr;
    }
    // Copy in/out; false when the range is not entirely RAM.
    bool read(uint64_t gpa, std::span<uint8_t> out) const;
    bool write(uint64_t gpa, std::span<const uint8_t> in);

private:
    uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
};

} // namespace krr
