#include "guest-model/error.h"
#include "recorder/guest-image/newc_archive.h"
#include "tests/recorder/newc_reader.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

using krr::NewcArchiveWriter;
using krr::test::read_newc;

namespace {

std::vector<uint8_t> bytes(const std::string& s) {
    return {s.begin(), s.end()};
}

} // namespace

TEST_CASE("newc writer: every entry kind reads back with its type, mode and data") {
    NewcArchiveWriter w;
    w.directory("/bin", 0755);
    w.file("/bin/hello", 0750, bytes("hello, world\n")); // 13 bytes: needs padding
    w.symlink("/bin/sh", "/bin/busybox");
    w.char_device("/dev/console", 0600, 5, 1);
    w.file("/empty", 0644, {});
    auto archive = read_newc(w.finish());

    REQUIRE(archive.order.size() == 5);
    CHECK(archive.order[0] == "bin"); // stored without the leading slash
    const auto& dir = archive.entries.at("bin");
    CHECK(dir.mode == (S_IFDIR | 0755));
    CHECK(dir.nlink == 2);
    const auto& hello = archive.entries.at("bin/hello");
    CHECK(hello.mode == (S_IFREG | 0750));
    CHECK(hello.data == "hello, world\n");
    CHECK(hello.uid == 0);
    CHECK(hello.gid == 0);
    CHECK(hello.mtime == 0);
    const auto& sh = archive.entries.at("bin/sh");
    CHECK(sh.mode == (S_IFLNK | 0777));
    CHECK(sh.data == "/bin/busybox");
    const auto& console = archive.entries.at("dev/console");
    CHECK(console.mode == (S_IFCHR | 0600));
    CHECK(console.rdev_major == 5);
    CHECK(console.rdev_minor == 1);
    CHECK(archive.entries.at("empty").data.empty());
    // Distinct inode numbers: the kernel would treat equal ones as hard links.
    CHECK(hello.inode != dir.inode);
    CHECK(sh.inode != hello.inode);
}

TEST_CASE("newc writer: names of every length stay aligned") {
    NewcArchiveWriter w;
    std::string name;
    for (int i = 1; i <= 9; ++i) {
        name += char('a' + i);
        w.file(name, 0644, bytes(std::string(size_t(i), 'x')));
    }
    auto archive = read_newc(w.finish());
    CHECK(archive.order.size() == 9);
    CHECK(archive.entries.at("bcdefghij").data == "xxxxxxxxx");
}

TEST_CASE("newc writer: the same entries give the same bytes, and a reset writer starts over") {
    auto build = [](NewcArchiveWriter& w) {
        w.directory("/etc", 0755);
        w.file("/etc/passwd", 0644, bytes("root:x:0:0::/root:/bin/sh\n"));
        return w.finish();
    };
    NewcArchiveWriter w;
    auto first = build(w);
    auto second = build(w);
    NewcArchiveWriter fresh;
    CHECK(first == second);
    CHECK(first == build(fresh));
}

TEST_CASE("newc writer: rejects empty paths") {
    NewcArchiveWriter w;
    CHECK_THROWS_AS(w.file("/", 0644, {}), krr::Error);
    CHECK_THROWS_AS(w.directory("", 0755), krr::Error);
    CHECK_THROWS_AS(w.symlink("/x", ""), krr::Error);
}
