#include "guest-model/byte_codec.h"

#include "guest-model/error.h"

namespace krr {

void ByteWriter::put_le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
        out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

void ByteWriter::varint(uint64_t v) {
    while (v >= 0x80) {
        out_.push_back(static_cast<uint8_t>(v | 0x80));
        v >>= 7;
    }
    out_.push_back(static_cast<uint8_t>(v));
}

void ByteWriter::bytes(std::span<const uint8_t> data) {
    out_.insert(out_.end(), data.begin(), data.end());
}

void ByteWriter::string(std::string_view s) {
    varint(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
}

void ByteWriter::blob(std::span<const uint8_t> data) {
    varint(data.size());
    bytes(data);
}

void ByteReader::fail(const std::string& why) const {
    throw Error(context_, why + " (at byte " + std::to_string(pos_) + ")");
}

void ByteReader::need(size_t n) {
    if (n > remaining()) {
        fail("needs " + std::to_string(n) + " more bytes, only " + std::to_string(remaining()) +
             " left");
    }
}

uint64_t ByteReader::get_le(int n) {
    need(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
        v |= static_cast<uint64_t>(data_[pos_ + static_cast<size_t>(i)]) << (8 * i);
    }
    pos_ += static_cast<size_t>(n);
    return v;
}

uint8_t ByteReader::u8() { return static_cast<uint8_t>(get_le(1)); }
uint16_t ByteReader::u16() { return static_cast<uint16_t>(get_le(2)); }
uint32_t ByteReader::u32() { return static_cast<uint32_t>(get_le(4)); }
uint64_t ByteReader::u64() { return get_le(8); }

uint64_t ByteReader::varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b = u8();
        if (shift == 63 && b > 1) {
            fail("varint overflows 64 bits");
        }
        v |= static_cast<uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            return v;
        }
    }
    fail("varint longer than 10 bytes");
}

std::span<const uint8_t> ByteReader::bytes(size_t n) {
    need(n);
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
}

std::string ByteReader::string(size_t max_length) {
    uint64_t n = varint();
    if (n > max_length) {
        fail("string of " + std::to_string(n) + " bytes exceeds the limit of " +
             std::to_string(max_length));
    }
    auto s = bytes(static_cast<size_t>(n));
    return std::string(s.begin(), s.end());
}

std::vector<uint8_t> ByteReader::blob(size_t max_length) {
    uint64_t n = varint();
    if (n > max_length) {
        fail("blob of " + std::to_string(n) + " bytes exceeds the limit of " +
             std::to_string(max_length));
    }
    auto s = bytes(static_cast<size_t>(n));
    return std::vector<uint8_t>(s.begin(), s.end());
}

uint64_t ByteReader::count(size_t min_element_bytes) {
    uint64_t n = varint();
    size_t per = min_element_bytes == 0 ? 1 : min_element_bytes;
    if (n > remaining() / per) {
        fail("count " + std::to_string(n) + " cannot fit in the " + std::to_string(remaining()) +
             " bytes left");
    }
    return n;
}

void ByteReader::expect_end() const {
    if (!at_end()) {
        fail(std::to_string(remaining()) + " unexpected trailing bytes");
    }
}

} // namespace krr
