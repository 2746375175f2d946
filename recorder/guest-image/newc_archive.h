// A writer for the "newc" cpio format, the format the Linux kernel unpacks as
// its initramfs. Entries are written exactly as given, with fixed owners,
// times and inode numbers, so the same entries always give the same bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace krr {

class NewcArchiveWriter {
public:
    // Paths are absolute guest paths ("/bin/sh") or relative to the root;
    // they are stored without the leading slash, as the kernel expects.
    // A parent directory must be added before its children.
    void directory(std::string_view path, uint32_t permissions);
    void file(std::string_view path, uint32_t permissions, std::span<const uint8_t> data);
    void symlink(std::string_view path, std::string_view target);
    void char_device(std::string_view path, uint32_t permissions, uint32_t major, uint32_t minor);
    // Appends the trailer and hands back the archive; the writer is then empty.
    std::vector<uint8_t> finish();

private:
    struct Header {
        uint32_t mode = 0;
        uint32_t nlink = 1;
        uint64_t size = 0;
        uint32_t rdev_major = 0;
        uint32_t rdev_minor = 0;
    };
    void entry(std::string_view path, const Header& header, std::span<const uint8_t> data);
    void pad_to_4();

    std::vector<uint8_t> out_;
    uint32_t next_inode_ = 1;
};

} // namespace krr
