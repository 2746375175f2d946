// The guest init (guest/init.c), built statically and embedded in krr so
// that the krr executable alone can build a bootable initramfs.
#pragma once

#include <cstdint>
#include <span>

namespace krr {

std::span<const uint8_t> embedded_guest_init();

} // namespace krr
