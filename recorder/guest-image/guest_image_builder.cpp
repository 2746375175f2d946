#include "recorder/guest-image/guest_image_builder.h"

#include "guest-model/error.h"
#include "recorder/guest-image/newc_archive.h"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <memory>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace krr {

namespace {

constexpr uint64_t max_guest_file = 1ull << 30;
constexpr size_t max_applet_list = 1 << 20;

std::string base_name(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') {
        p.pop_back();
    }
    size_t slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

// "/a//b/" -> "/a/b"; rejects ".", ".." and the root itself.
std::string normalise_guest_path(const std::string& path, const std::string& what) {
    if (path.empty() || path.front() != '/') {
        throw Error(what, "guest path '" + path + "' is not absolute");
    }
    std::string out;
    size_t i = 0;
    while (i < path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos) {
            j = path.size();
        }
        std::string component = path.substr(i, j - i);
        if (component == "." || component == "..") {
            throw Error(what, "guest path '" + path + "' contains '" + component + "'");
        }
        if (!component.empty()) {
            out += "/" + component;
        }
        i = j + 1;
    }
    if (out.empty()) {
        throw Error(what, "guest path '" + path + "' names the root directory");
    }
    if (out.find('\0') != std::string::npos) {
        throw Error(what, "guest path contains a NUL byte");
    }
    return out;
}

struct HostFile {
    std::vector<uint8_t> data;
    uint32_t permissions = 0;
};

HostFile read_host_file(const std::string& path, const std::string& what) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw Error(what, errno_text(errno));
    }
    std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) { ::close(*f); });
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw Error(what, errno_text(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw Error(what, "not a regular file");
    }
    if (static_cast<uint64_t>(st.st_size) > max_guest_file) {
        throw Error(what, "larger than the 1 GiB krr puts in a guest image");
    }
    HostFile file;
    file.permissions = st.st_mode & 07777;
    file.data.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < file.data.size()) {
        ssize_t n = ::read(fd, file.data.data() + done, file.data.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw Error(what, errno_text(errno));
        }
        if (n == 0) {
            throw Error(what, "file shrank while reading");
        }
        done += size_t(n);
    }
    return file;
}

std::vector<uint8_t> bytes_of(const std::string& text) {
    return {text.begin(), text.end()};
}

// The applets busybox provides, as guest paths ("/bin/sh", "/usr/bin/awk").
std::vector<std::string> busybox_applets(const std::string& busybox) {
    const std::string what = "busybox: " + busybox;
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        throw Error(what, "pipe: " + errno_text(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    const char* argv[] = {busybox.c_str(), "--list-full", nullptr};
    pid_t pid = 0;
    int spawn_error = posix_spawn(&pid, busybox.c_str(), &actions, nullptr,
                                  const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    if (spawn_error != 0) {
        ::close(pipe_fds[0]);
        throw Error(what, "cannot run it to list its applets: " + errno_text(spawn_error));
    }
    std::string listing;
    char buffer[4096];
    bool too_long = false;
    for (;;) {
        ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (listing.size() + size_t(n) > max_applet_list) {
            too_long = true;
            break;
        }
        listing.append(buffer, size_t(n));
    }
    ::close(pipe_fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (too_long) {
        throw Error(what, "its applet list is implausibly long");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw Error(what, "'--list-full' failed; is it a busybox binary?");
    }
    std::vector<std::string> applets;
    size_t start = 0;
    while (start < listing.size()) {
        size_t end = listing.find('\n', start);
        if (end == std::string::npos) {
            end = listing.size();
        }
        std::string line = listing.substr(start, end - start);
        start = end + 1;
        if (line.empty()) {
            continue;
        }
        applets.push_back(normalise_guest_path("/" + line, what + ": applet '" + line + "'"));
    }
    if (applets.empty()) {
        throw Error(what, "'--list-full' listed no applets; is it a busybox binary?");
    }
    return applets;
}

} // namespace

GuestFileSpec parse_guest_file_spec(const std::string& spec) {
    const std::string what = "--file " + spec;
    GuestFileSpec file;
    size_t colon = spec.find(':');
    file.host_path = spec.substr(0, colon);
    if (file.host_path.empty()) {
        throw Error(what, "no host path");
    }
    std::string guest = colon == std::string::npos ? "/" : spec.substr(colon + 1);
    if (guest.empty()) {
        throw Error(what, "empty guest path after ':'");
    }
    if (guest.back() == '/') {
        guest += base_name(file.host_path);
    }
    file.guest_path = normalise_guest_path(guest, what);
    return file;
}

GuestImageBuilder::GuestImageBuilder(std::span<const uint8_t> init)
    : init_(init.begin(), init.end()) {}

void GuestImageBuilder::set_busybox(const std::string& host_path) {
    busybox_ = host_path;
}

void GuestImageBuilder::set_command(std::vector<std::string> argv) {
    for (const auto& arg : argv) {
        if (arg.find('\0') != std::string::npos) {
            throw Error("command", "an argument contains a NUL byte");
        }
    }
    if (!argv.empty() && argv.front().empty()) {
        throw Error("command", "the command name is empty");
    }
    command_ = std::move(argv);
}

void GuestImageBuilder::add_file(const GuestFileSpec& file) {
    GuestFileSpec normalised = file;
    normalised.guest_path = normalise_guest_path(file.guest_path, "--file " + file.host_path);
    files_.push_back(std::move(normalised));
}

void GuestImageBuilder::add_module(const std::string& host_path) {
    modules_.push_back(host_path);
}

void GuestImageBuilder::put_parents(Tree& tree, const std::string& path) const {
    for (size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
        const std::string parent = path.substr(0, slash);
        auto it = tree.find(parent);
        if (it == tree.end()) {
            Entry dir;
            dir.kind = Entry::Kind::directory;
            dir.permissions = 0755;
            tree.emplace(parent, std::move(dir));
        } else if (it->second.kind != Entry::Kind::directory) {
            throw Error("guest image: " + path, parent + " is not a directory in the guest");
        }
    }
}

void GuestImageBuilder::put(Tree& tree, const std::string& path, Entry entry) const {
    put_parents(tree, path);
    auto it = tree.find(path);
    if (it == tree.end()) {
        tree.emplace(path, std::move(entry));
        return;
    }
    Entry& existing = it->second;
    const bool both_directories =
        existing.kind == Entry::Kind::directory && entry.kind == Entry::Kind::directory;
    if (both_directories) {
        return;
    }
    if (existing.kind == Entry::Kind::directory) {
        throw Error("guest image: " + path, "is a directory in the guest");
    }
    if (existing.from_user && entry.from_user) {
        throw Error("guest image: " + path, "two files are given for this guest path");
    }
    // A user's file replaces krr's own (e.g. an /etc/passwd or an applet).
    if (entry.from_user || !existing.from_user) {
        existing = std::move(entry);
    }
}

std::vector<uint8_t> GuestImageBuilder::build() const {
    if (init_.empty()) {
        throw Error("guest image", "no init executable");
    }
    if (busybox_.empty()) {
        throw Error("guest image", "no busybox given");
    }
    Tree tree;
    auto directory = [](uint32_t permissions) {
        Entry e;
        e.kind = Entry::Kind::directory;
        e.permissions = permissions;
        return e;
    };
    auto file = [](std::vector<uint8_t> data, uint32_t permissions, bool from_user = false) {
        Entry e;
        e.kind = Entry::Kind::file;
        e.data = std::move(data);
        e.permissions = permissions;
        e.from_user = from_user;
        return e;
    };
    for (const char* dir : {"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/proc", "/sys", "/dev",
                            "/run", "/etc", "/krr"}) {
        put(tree, dir, directory(0755));
    }
    put(tree, "/tmp", directory(01777));
    put(tree, "/root", directory(0700));
    // The kernel opens /dev/console for init before init mounts devtmpfs.
    Entry console;
    console.kind = Entry::Kind::char_device;
    console.permissions = 0600;
    console.major = 5;
    console.minor = 1;
    put(tree, "/dev/console", std::move(console));

    put(tree, "/init", file(init_, 0755));
    HostFile busybox = read_host_file(busybox_, "busybox: " + busybox_);
    put(tree, busybox_path, file(std::move(busybox.data), 0755));
    for (const auto& applet : busybox_applets(busybox_)) {
        if (tree.count(applet) == 0) {
            Entry link;
            link.kind = Entry::Kind::symlink;
            link.data = bytes_of(busybox_path);
            put(tree, applet, std::move(link));
        }
    }
    put(tree, "/etc/passwd", file(bytes_of("root:x:0:0:root:/root:/bin/sh\n"), 0644));
    put(tree, "/etc/group", file(bytes_of("root:x:0:\n"), 0644));

    std::string command;
    for (const auto& arg : command_.empty() ? std::vector<std::string>{"/bin/sh"} : command_) {
        command += arg;
        command.push_back('\0');
    }
    put(tree, command_path, file(bytes_of(command), 0644));

    std::string module_list;
    for (const auto& module : modules_) {
        const std::string guest = std::string(modules_dir) + "/" + base_name(module);
        if (tree.count(guest) != 0) {
            throw Error("module: " + module, "another module has the same file name");
        }
        put(tree, guest, file(read_host_file(module, "module: " + module).data, 0644));
        module_list += guest + "\n";
    }
    put(tree, modules_path, file(bytes_of(module_list), 0644));

    for (const auto& f : files_) {
        HostFile host = read_host_file(f.host_path, "--file " + f.host_path);
        put(tree, f.guest_path, file(std::move(host.data), host.permissions, true));
    }

    NewcArchiveWriter archive;
    for (const auto& [path, entry] : tree) {
        switch (entry.kind) {
        case Entry::Kind::directory:
            archive.directory(path, entry.permissions);
            break;
        case Entry::Kind::file:
            archive.file(path, entry.permissions, entry.data);
            break;
        case Entry::Kind::symlink:
            archive.symlink(path, std::string(entry.data.begin(), entry.data.end()));
            break;
        case Entry::Kind::char_device:
            archive.char_device(path, entry.permissions, entry.major, entry.minor);
            break;
        }
    }
    return archive.finish();
}

void GuestImageBuilder::write(const std::string& output_path) const {
    const std::vector<uint8_t> image = build();
    const std::string what = "initramfs: " + output_path;
    const std::string temporary = output_path + ".tmp";
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(temporary.c_str(), "wb"), &std::fclose);
    if (!f) {
        throw Error(what, errno_text(errno));
    }
    if (std::fwrite(image.data(), 1, image.size(), f.get()) != image.size() ||
        std::fflush(f.get()) != 0) {
        int err = errno;
        f.reset();
        std::remove(temporary.c_str());
        throw Error(what, errno_text(err));
    }
    if (std::fclose(f.release()) != 0) {
        int err = errno;
        std::remove(temporary.c_str());
        throw Error(what, errno_text(err));
    }
    if (std::rename(temporary.c_str(), output_path.c_str()) != 0) {
        int err = errno;
        std::remove(temporary.c_str());
        throw Error(what, errno_text(err));
    }
}

} // namespace krr
