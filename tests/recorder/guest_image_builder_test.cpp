#include "guest-model/error.h"
#include "recorder/guest-image/guest_image_builder.h"
#include "tests/recorder/newc_reader.h"

#include <algorithm>
#include <cstdlib>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <utime.h>

using krr::GuestImageBuilder;
using krr::parse_guest_file_spec;
using krr::test::read_newc;
namespace fs = std::filesystem;

namespace {

// A scratch directory with a stand-in busybox: a script that lists three
// applets the way `busybox --list-full` does.
struct Scratch {
    fs::path dir;
    Scratch() {
        std::string pattern = (fs::temp_directory_path() / "krr-image-test.XXXXXX").string();
        REQUIRE(mkdtemp(pattern.data()) != nullptr);
        dir = pattern;
        write("busybox",
              "#!/bin/sh\n[ \"$1\" = --list-full ] || exit 1\n"
              "echo bin/sh\necho usr/bin/awk\necho sbin/poweroff\n",
              0755);
    }
    ~Scratch() { fs::remove_all(dir); }
    std::string write(const std::string& name, const std::string& text, mode_t mode = 0644) {
        fs::path p = dir / name;
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        REQUIRE(::chmod(p.c_str(), mode) == 0);
        return p.string();
    }
    std::string busybox() const { return (dir / "busybox").string(); }
};

const std::vector<uint8_t> fake_init = {0x7f, 'E', 'L', 'F', 'i', 'n', 'i', 't'};

GuestImageBuilder builder_with(const Scratch& scratch) {
    GuestImageBuilder b(fake_init);
    b.set_busybox(scratch.busybox());
    return b;
}

} // namespace

TEST_CASE("guest image: the base layout init, busybox and the command need") {
    Scratch scratch;
    auto b = builder_with(scratch);
    b.set_command({"uname", "-a"});
    auto image = read_newc(b.build());
    const auto& e = image.entries;

    REQUIRE(e.count("init") == 1);
    CHECK(e.at("init").data == std::string(fake_init.begin(), fake_init.end()));
    CHECK(e.at("init").mode == (S_IFREG | 0755));
    CHECK(e.at("bin/busybox").mode == (S_IFREG | 0755));
    CHECK(e.at("bin/busybox").data.rfind("#!/bin/sh", 0) == 0);
    for (const char* applet : {"bin/sh", "usr/bin/awk", "sbin/poweroff"}) {
        CAPTURE(applet);
        REQUIRE(e.count(applet) == 1);
        CHECK(e.at(applet).mode == (S_IFLNK | 0777));
        CHECK(e.at(applet).data == "/bin/busybox");
    }
    for (const char* dir : {"proc", "sys", "dev", "run", "etc", "root", "tmp", "usr", "usr/bin"}) {
        CAPTURE(dir);
        REQUIRE(e.count(dir) == 1);
        CHECK(S_ISDIR(e.at(dir).mode));
    }
    CHECK((e.at("tmp").mode & 07777) == 01777);
    CHECK(e.at("dev/console").mode == (S_IFCHR | 0600));
    CHECK(e.at("dev/console").rdev_major == 5);
    CHECK(e.at("dev/console").rdev_minor == 1);
    CHECK(e.at("krr/command").data == std::string("uname\0-a\0", 9));
    CHECK(e.at("krr/modules").data.empty());
    CHECK(e.at("etc/passwd").data.rfind("root:x:0:0:", 0) == 0);
    CHECK(e.at("etc/group").data.rfind("root:x:0:", 0) == 0);
    // Every entry's parent comes before it, or the kernel could not create it.
    for (size_t i = 0; i < image.order.size(); ++i) {
        const auto& name = image.order[i];
        size_t slash = name.rfind('/');
        if (slash == std::string::npos) {
            continue;
        }
        auto parent =
            std::find(image.order.begin(), image.order.begin() + long(i), name.substr(0, slash));
        CAPTURE(name);
        CHECK(parent != image.order.begin() + long(i));
    }
}

TEST_CASE("guest image: no command means an interactive shell") {
    Scratch scratch;
    auto image = read_newc(builder_with(scratch).build());
    CHECK(image.entries.at("krr/command").data == std::string("/bin/sh\0", 8));
}

TEST_CASE("guest image: --file places files with their modes and creates parents") {
    Scratch scratch;
    auto repro = scratch.write("src/repro", "#!/bin/sh\necho repro\n", 0751);
    auto data = scratch.write("data.bin", std::string("\0\1\2\3\4", 5), 0600);
    auto b = builder_with(scratch);
    b.add_file(parse_guest_file_spec(repro));
    b.add_file(parse_guest_file_spec(data + ":/opt/deep/dir/payload"));
    b.add_file(parse_guest_file_spec(repro + ":/usr/local/bin/"));
    auto e = read_newc(b.build()).entries;

    REQUIRE(e.count("repro") == 1);
    CHECK(e.at("repro").mode == (S_IFREG | 0751));
    CHECK(e.at("repro").data == "#!/bin/sh\necho repro\n");
    REQUIRE(e.count("opt/deep/dir/payload") == 1);
    CHECK(e.at("opt/deep/dir/payload").mode == (S_IFREG | 0600));
    CHECK(e.at("opt/deep/dir/payload").data == std::string("\0\1\2\3\4", 5));
    for (const char* dir : {"opt", "opt/deep", "opt/deep/dir", "usr/local"}) {
        CAPTURE(dir);
        REQUIRE(e.count(dir) == 1);
        CHECK(e.at(dir).mode == (S_IFDIR | 0755));
    }
    CHECK(e.count("usr/local/bin/repro") == 1);
}

TEST_CASE("guest image: a user's file replaces krr's own, but not another user file") {
    Scratch scratch;
    auto passwd =
        scratch.write("passwd", "root::0:0:r:/root:/bin/sh\nuser::1000:1000::/:/bin/sh\n");
    auto other = scratch.write("other", "x");
    auto b = builder_with(scratch);
    b.add_file(parse_guest_file_spec(passwd + ":/etc/passwd"));
    b.add_file(parse_guest_file_spec(other + ":/bin/sh"));
    auto e = read_newc(b.build()).entries;
    CHECK(e.at("etc/passwd").data.find("user::1000") != std::string::npos);
    CHECK(e.at("bin/sh").mode == (S_IFREG | 0644));

    b.add_file(parse_guest_file_spec(other + ":/etc/passwd"));
    CHECK_THROWS_WITH_AS(b.build(), doctest::Contains("two files"), krr::Error);
}

TEST_CASE("guest image: bad --file arguments are errors that name the problem") {
    Scratch scratch;
    CHECK_THROWS_WITH_AS(parse_guest_file_spec(":/x"), doctest::Contains("no host path"),
                         krr::Error);
    CHECK_THROWS_WITH_AS(parse_guest_file_spec("a:"), doctest::Contains("empty guest path"),
                         krr::Error);
    CHECK_THROWS_WITH_AS(parse_guest_file_spec("a:relative"), doctest::Contains("not absolute"),
                         krr::Error);
    CHECK_THROWS_WITH_AS(parse_guest_file_spec("a:/x/../etc"), doctest::Contains("'..'"),
                         krr::Error);
    CHECK(parse_guest_file_spec("a:/").guest_path == "/a");
    GuestImageBuilder root(fake_init);
    CHECK_THROWS_WITH_AS(root.add_file({"a", "/"}), doctest::Contains("root directory"),
                         krr::Error);
    CHECK(parse_guest_file_spec("dir/a").guest_path == "/a");
    CHECK(parse_guest_file_spec("a://x//y/").guest_path == "/x/y/a");

    auto missing = builder_with(scratch);
    missing.add_file(parse_guest_file_spec((scratch.dir / "nope").string()));
    CHECK_THROWS_WITH_AS(missing.build(), doctest::Contains("No such file"), krr::Error);

    auto directory = builder_with(scratch);
    directory.add_file(parse_guest_file_spec(scratch.dir.string() + ":/d"));
    CHECK_THROWS_WITH_AS(directory.build(), doctest::Contains("not a regular file"), krr::Error);

    auto file = scratch.write("f", "f");
    auto through_file = builder_with(scratch);
    through_file.add_file(parse_guest_file_spec(file + ":/init/x"));
    CHECK_THROWS_WITH_AS(through_file.build(), doctest::Contains("not a directory"), krr::Error);

    auto onto_directory = builder_with(scratch);
    onto_directory.add_file(parse_guest_file_spec(file + ":/etc"));
    CHECK_THROWS_WITH_AS(onto_directory.build(), doctest::Contains("is a directory"), krr::Error);
}

TEST_CASE("guest image: the same inputs give the same bytes; contents and modes matter") {
    Scratch scratch;
    auto input = scratch.write("input", "payload", 0644);
    auto build = [&] {
        auto b = builder_with(scratch);
        b.set_command({"/input"});
        b.add_file(parse_guest_file_spec(input));
        return b.build();
    };
    auto first = build();
    // Host times do not leak into the image.
    struct utimbuf times {
        1000000, 1000000
    };
    REQUIRE(::utime(input.c_str(), &times) == 0);
    CHECK(build() == first);

    REQUIRE(::chmod(input.c_str(), 0755) == 0);
    auto executable = build();
    CHECK(executable != first);
    CHECK(read_newc(executable).entries.at("input").mode == (S_IFREG | 0755));
    scratch.write("input", "payloaD", 0644);
    CHECK(build() != first);
}

TEST_CASE("guest image: modules are listed for init in the order given") {
    Scratch scratch;
    auto a = scratch.write("a/first.ko", "module one");
    auto b = scratch.write("b/second.ko", "module two");
    auto builder = builder_with(scratch);
    builder.add_module(b);
    builder.add_module(a);
    auto e = read_newc(builder.build()).entries;
    CHECK(e.at("krr/modules").data == "/krr/modules.d/second.ko\n/krr/modules.d/first.ko\n");
    CHECK(e.at("krr/modules.d/first.ko").data == "module one");

    auto clash = scratch.write("c/first.ko", "another");
    builder.add_module(clash);
    CHECK_THROWS_WITH_AS(builder.build(), doctest::Contains("same file name"), krr::Error);
}

TEST_CASE("guest image: a busybox that cannot list applets is an error") {
    Scratch scratch;
    auto not_busybox = scratch.write("false", "#!/bin/sh\nexit 1\n", 0755);
    GuestImageBuilder b(fake_init);
    b.set_busybox(not_busybox);
    CHECK_THROWS_WITH_AS(b.build(), doctest::Contains("busybox"), krr::Error);
    b.set_busybox((scratch.dir / "missing").string());
    CHECK_THROWS_WITH_AS(b.build(), doctest::Contains("No such file"), krr::Error);
    CHECK_THROWS_AS(b.set_command({"", "x"}), krr::Error);
}

TEST_CASE("guest image: write() stores exactly what build() returns") {
    Scratch scratch;
    auto b = builder_with(scratch);
    b.set_command({"true"});
    const std::string out = (scratch.dir / "initramfs.cpio").string();
    b.write(out);
    std::ifstream in(out, std::ios::binary);
    std::vector<uint8_t> written((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
    CHECK(written == b.build());
    CHECK_FALSE(fs::exists(out + ".tmp"));
    CHECK_THROWS_AS(b.write((scratch.dir / "no/such/dir/x").string()), krr::Error);
}
