#include "guest-model/guest_memory.h"

#include "guest-model/error.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/mman.h>

namespace krr {

GuestMemory::GuestMemory(uint64_t size_bytes) : size_(size_bytes) {
    if (size_bytes == 0 || size_bytes % kPageSize != 0) {
        throw Error("guest memory", "size " + std::to_string(size_bytes) +
                                        " is not a positive multiple of 4096");
    }
    void* p = mmap(nullptr, size_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        throw Error("guest memory", "cannot map " + std::to_string(size_bytes >> 20) +
                                        " MiB: " + errno_text(errno));
    }
    base_ = static_cast<uint8_t*>(p);
}

GuestMemory::~GuestMemory() {
    if (base_) {
        munmap(base_, size_);
    }
}

bool GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
    const uint8_t* p = host(gpa, out.size());
    if (!p) {
        return false;
    }
    if (!out.empty()) {
        std::memcpy(out.data(), p, out.size());
    }
    return true;
}

bool GuestMemory::write(uint64_t gpa, std::span<const uint8_t> in) {
    uint8_t* p = host(gpa, in.size());
    if (!p) {
        return false;
    }
    if (!in.empty()) {
        std::memcpy(p, in.data(), in.size());
    }
    return true;
}

} // namespace krr
