// An interrupt message on the APIC bus: what an I/O APIC redirection entry
// or a local APIC's ICR sends, and what a local APIC accepts.
#pragma once

#include <cstdint>

namespace krr {

enum class ApicDeliveryMode : uint8_t {
    Fixed = 0,
    LowestPriority = 1,
    Smi = 2,
    Nmi = 4,
    Init = 5,
    Startup = 6,
    ExtInt = 7,
};

enum class ApicShorthand : uint8_t {
    None = 0,
    Self = 1,
    AllIncludingSelf = 2,
    AllExcludingSelf = 3
};

struct ApicMessage {
    uint8_t vector = 0;
    ApicDeliveryMode mode = ApicDeliveryMode::Fixed;
    bool logical_destination = false;
    uint8_t destination = 0; // an APIC ID, or a logical mask; 0xff = everyone
    bool level_triggered = false;
    bool assert_level = true; // INIT with level=0 is the "INIT level de-assert" no-op
    ApicShorthand shorthand = ApicShorthand::None;
};

} // namespace krr
