// Helpers for the device models' snapshot encodings (a trace's DEVICE_STATE
// chunks): the layouts are each model's own, these keep their checks
// uniform. Decoding never trusts its input.
#pragma once

#include "guest-model/byte_codec.h"

#include <cstdint>
#include <string>

namespace krr {

inline void put_flag(ByteWriter& out, bool value) {
    out.u8(value ? 1 : 0);
}

inline bool get_flag(ByteReader& in) {
    uint8_t value = in.u8();
    if (value > 1)
        in.fail("flag byte " + std::to_string(value) + " is neither 0 nor 1");
    return value == 1;
}

// A value that must lie in [low, high].
inline uint64_t check_range(ByteReader& in, uint64_t value, uint64_t low, uint64_t high,
                            const char* what) {
    if (value < low || value > high)
        in.fail(std::string(what) + " " + std::to_string(value) + " is out of range");
    return value;
}

// Every device encoding starts with its layout version.
inline void expect_version(ByteReader& in, uint8_t version) {
    uint8_t found = in.u8();
    if (found != version)
        in.fail("state version " + std::to_string(found) + ", expected " + std::to_string(version));
}

} // namespace krr
