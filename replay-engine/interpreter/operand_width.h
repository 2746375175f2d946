// Dispatch from an operand size in bytes to the ALU's width types.
#pragma once

#include <cstdint>

namespace krr {

// Calls f(T{}) with T the unsigned integer type `bytes` wide (1, 2, 4, 8).
template <typename F>
void with_operand_width(int bytes, F&& f) {
    switch (bytes) {
    case 1:
        f(uint8_t{});
        break;
    case 2:
        f(uint16_t{});
        break;
    case 4:
        f(uint32_t{});
        break;
    default:
        f(uint64_t{});
        break;
    }
}

} // namespace krr
