#include "gdbserver/hex_text.h"

#include "guest-model/error.h"

namespace krr::gdb {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int digit_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

} // namespace

uint64_t parse_hex_number(std::string_view text, std::string_view what) {
    if (text.empty()) {
        throw Error("gdb request", std::string(what) + " is missing");
    }
    uint64_t value = 0;
    for (char c : text) {
        const int d = digit_value(c);
        if (d < 0) {
            throw Error("gdb request", std::string(what) + " is not hex: '" +
                                           std::string(text.substr(0, 32)) + "'");
        }
        if (value >> 60 != 0) {
            throw Error("gdb request", std::string(what) + " does not fit in 64 bits");
        }
        value = value << 4 | static_cast<uint64_t>(d);
    }
    return value;
}

std::vector<uint8_t> decode_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        throw Error("gdb request", "hex data has an odd number of digits");
    }
    std::vector<uint8_t> out;
    out.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        const int hi = digit_value(hex[i]);
        const int lo = digit_value(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            throw Error("gdb request", "hex data holds a non-hex digit");
        }
        out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    return out;
}

std::string encode_hex(std::span<const uint8_t> bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (uint8_t b : bytes) {
        out.push_back(kHexDigits[b >> 4]);
        out.push_back(kHexDigits[b & 0xf]);
    }
    return out;
}

std::string encode_hex(std::string_view bytes) {
    return encode_hex(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

std::string format_hex_number(uint64_t value) {
    std::string out;
    do {
        out.insert(out.begin(), kHexDigits[value & 0xf]);
        value >>= 4;
    } while (value != 0);
    return out;
}

} // namespace krr::gdb
