// An independent reader of newc cpio archives for the tests: written from the
// format description, not from krr's writer, so the two can disagree.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace krr::test {

struct CpioEntry {
    uint32_t inode = 0;
    uint32_t mode = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t nlink = 0;
    uint32_t mtime = 0;
    uint32_t rdev_major = 0;
    uint32_t rdev_minor = 0;
    std::string data;
};

// Entries by name (as stored, without a leading '/'), in archive order in
// `order`. Throws std::runtime_error on anything malformed, including a
// missing trailer or misaligned header.
struct CpioArchive {
    std::map<std::string, CpioEntry> entries;
    std::vector<std::string> order;
};

inline CpioArchive read_newc(const std::vector<uint8_t>& bytes) {
    CpioArchive archive;
    size_t pos = 0;
    auto field = [&](size_t header, int index) {
        std::string hex(reinterpret_cast<const char*>(&bytes[header + 6 + 8 * index]), 8);
        size_t used = 0;
        unsigned long v = std::stoul(hex, &used, 16);
        if (used != 8) {
            throw std::runtime_error("bad hex field " + hex);
        }
        return static_cast<uint32_t>(v);
    };
    auto align4 = [](size_t n) { return (n + 3) & ~size_t(3); };
    for (;;) {
        if (pos % 4 != 0) {
            throw std::runtime_error("header not 4-byte aligned");
        }
        if (pos + 110 > bytes.size()) {
            throw std::runtime_error("truncated header (no trailer?)");
        }
        if (std::string(reinterpret_cast<const char*>(&bytes[pos]), 6) != "070701") {
            throw std::runtime_error("bad magic at " + std::to_string(pos));
        }
        CpioEntry e;
        e.inode = field(pos, 0);
        e.mode = field(pos, 1);
        e.uid = field(pos, 2);
        e.gid = field(pos, 3);
        e.nlink = field(pos, 4);
        e.mtime = field(pos, 5);
        uint32_t size = field(pos, 6);
        e.rdev_major = field(pos, 9);
        e.rdev_minor = field(pos, 10);
        uint32_t name_size = field(pos, 11);
        if (name_size == 0 || pos + 110 + name_size > bytes.size()) {
            throw std::runtime_error("bad name size");
        }
        std::string name(reinterpret_cast<const char*>(&bytes[pos + 110]), name_size - 1);
        if (bytes[pos + 110 + name_size - 1] != 0) {
            throw std::runtime_error("name not NUL-terminated");
        }
        size_t data_start = align4(pos + 110 + name_size);
        if (data_start + size > bytes.size()) {
            throw std::runtime_error("truncated data for " + name);
        }
        e.data.assign(reinterpret_cast<const char*>(&bytes[data_start]), size);
        pos = align4(data_start + size);
        if (name == "TRAILER!!!") {
            if (pos != bytes.size()) {
                throw std::runtime_error("bytes after the trailer");
            }
            return archive;
        }
        if (archive.entries.count(name) != 0) {
            throw std::runtime_error("duplicate entry " + name);
        }
        archive.order.push_back(name);
        archive.entries.emplace(name, std::move(e));
    }
}

} // namespace krr::test
