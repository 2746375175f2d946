// Hex as the GDB remote protocol writes it: numbers in big-endian hex digits
// without a prefix, byte blocks as two digits per byte in memory order.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace krr::gdb {

// A non-empty run of hex digits that fits in 64 bits; throws krr::Error
// naming `what` otherwise.
uint64_t parse_hex_number(std::string_view text, std::string_view what);

// Two hex digits per byte; throws krr::Error on an odd length or a non-hex
// digit.
std::vector<uint8_t> decode_hex(std::string_view hex);
std::string encode_hex(std::span<const uint8_t> bytes);
std::string encode_hex(std::string_view bytes);

// Lower-case hex of a number without leading zeros ("0" for zero).
std::string format_hex_number(uint64_t value);

} // namespace krr::gdb
