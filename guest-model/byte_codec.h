// Little-endian encoding for everything krr writes to disk. ByteReader never
// trusts its input: every read is bounds-checked and a short or malformed
// buffer becomes a krr::Error naming what was being read.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace krr {

class ByteWriter {
public:
    void u8(uint8_t v) { out_.push_back(v); }
    void u16(uint16_t v) { put_le(v, 2); }
    void u32(uint32_t v) { put_le(v, 4); }
    void u64(uint64_t v) { put_le(v, 8); }
    // Unsigned LEB128: small counts and deltas take one byte.
    void varint(uint64_t v);
    void bytes(std::span<const uint8_t> data);
    // A varint length followed by the bytes.
    void string(std::string_view s);
    void blob(std::span<const uint8_t> data);

    const std::vector<uint8_t>& data() const { return out_; }
    std::vector<uint8_t> take() { return std::move(out_); }
    size_t size() const { return out_.size(); }

private:
    void put_le(uint64_t v, int n);
    std::vector<uint8_t> out_;
};

class ByteReader {
public:
    // `context` names the thing being decoded, for error messages.
    ByteReader(std::span<const uint8_t> data, std::string context)
        : data_(data), context_(std::move(context)) {}

    uint8_t u8();
    uint16_t u16();
    uint32_t u32();
    uint64_t u64();
    uint64_t varint();
    std::span<const uint8_t> bytes(size_t n);
    std::string string(size_t max_length = 1 << 20);
    std::vector<uint8_t> blob(size_t max_length);
    // A count that will be used to size a container: each element needs at
    // least `min_element_bytes` of input, so a count larger than the rest of
    // the buffer allows is rejected before anything is allocated.
    uint64_t count(size_t min_element_bytes);

    size_t remaining() const { return data_.size() - pos_; }
    size_t position() const { return pos_; }
    bool at_end() const { return pos_ == data_.size(); }
    void expect_end() const;
    [[noreturn]] void fail(const std::string& why) const;

private:
    uint64_t get_le(int n);
    void need(size_t n);
    std::span<const uint8_t> data_;
    size_t pos_ = 0;
    std::string context_;
};

} // namespace krr
