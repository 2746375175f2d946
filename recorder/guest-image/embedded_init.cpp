#include "recorder/guest-image/embedded_init.h"

// Defined by the assembly file that embed_binary.py generates.
extern "C" const uint8_t krr_guest_init_start[];
extern "C" const uint8_t krr_guest_init_end[];

namespace krr {

std::span<const uint8_t> embedded_guest_init() {
    return {krr_guest_init_start, krr_guest_init_end};
}

} // namespace krr
