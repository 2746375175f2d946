#include "recorder/guest-image/newc_archive.h"

#include "guest-model/error.h"

#include <cstdio>
#include <sys/stat.h>

namespace krr {

namespace {

constexpr uint64_t max_field = 0xffffffffu;

std::string_view archive_name(std::string_view path) {
    while (!path.empty() && path.front() == '/') {
        path.remove_prefix(1);
    }
    if (path.empty()) {
        throw Error("initramfs", "an entry has an empty path");
    }
    if (path.find('\0') != std::string_view::npos) {
        throw Error("initramfs: entry", "path contains a NUL byte");
    }
    return path;
}

} // namespace

void NewcArchiveWriter::pad_to_4() {
    while (out_.size() % 4 != 0) {
        out_.push_back(0);
    }
}

void NewcArchiveWriter::entry(std::string_view path, const Header& header,
                              std::span<const uint8_t> data) {
    if (header.size > max_field) {
        throw Error("initramfs: /" + std::string(path), "larger than the 4 GiB newc allows");
    }
    const uint32_t inode = path == "TRAILER!!!" ? 0 : next_inode_++;
    const uint32_t fields[13] = {
        inode,
        header.mode,
        0, // uid: root
        0, // gid: root
        header.nlink,
        0, // mtime: fixed, for reproducible images
        static_cast<uint32_t>(header.size),
        0, // dev major
        0, // dev minor
        header.rdev_major,
        header.rdev_minor,
        static_cast<uint32_t>(path.size() + 1),
        0, // checksum: unused by the "070701" format
    };
    char text[6 + 13 * 8 + 1];
    int n = std::snprintf(text, sizeof text, "070701");
    for (uint32_t field : fields) {
        n += std::snprintf(text + n, sizeof text - size_t(n), "%08X", field);
    }
    out_.insert(out_.end(), text, text + n);
    out_.insert(out_.end(), path.begin(), path.end());
    out_.push_back(0);
    pad_to_4();
    out_.insert(out_.end(), data.begin(), data.end());
    pad_to_4();
}

void NewcArchiveWriter::directory(std::string_view path, uint32_t permissions) {
    entry(archive_name(path), {S_IFDIR | (permissions & 07777), 2, 0, 0, 0}, {});
}

void NewcArchiveWriter::file(std::string_view path, uint32_t permissions,
                             std::span<const uint8_t> data) {
    entry(archive_name(path), {S_IFREG | (permissions & 07777), 1, data.size(), 0, 0}, data);
}

void NewcArchiveWriter::symlink(std::string_view path, std::string_view target) {
    if (target.empty()) {
        throw Error("initramfs: " + std::string(path), "empty symlink target");
    }
    auto bytes =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(target.data()), target.size());
    entry(archive_name(path), {S_IFLNK | 0777, 1, target.size(), 0, 0}, bytes);
}

void NewcArchiveWriter::char_device(std::string_view path, uint32_t permissions, uint32_t major,
                                    uint32_t minor) {
    entry(archive_name(path), {S_IFCHR | (permissions & 07777), 1, 0, major, minor}, {});
}

std::vector<uint8_t> NewcArchiveWriter::finish() {
    entry("TRAILER!!!", {0, 1, 0, 0, 0}, {});
    next_inode_ = 1;
    std::vector<uint8_t> archive = std::move(out_);
    out_.clear();
    return archive;
}

} // namespace krr
