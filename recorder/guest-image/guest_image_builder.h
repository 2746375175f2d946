// Builds the initramfs krr boots: the static guest init as /init, busybox
// with a symlink per applet, the command (/krr/command), the modules to load
// (/krr/modules), a minimal /etc, and the user's files. The output depends
// only on the inputs' contents and modes, so it is byte-for-byte
// reproducible. guest/init.c is the other side of the /krr/* contract.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace krr {

// A --file argument, "HOST[:GUEST]", split at the first ':'. GUEST defaults to
// "/" + the host file's base name; a GUEST ending in '/' is a directory to
// put the file in. Throws krr::Error on an empty or ".." path.
struct GuestFileSpec {
    std::string host_path;
    std::string guest_path;
};
GuestFileSpec parse_guest_file_spec(const std::string& spec);

class GuestImageBuilder {
public:
    // Where the builder puts what it is given, inside the guest.
    static constexpr const char* command_path = "/krr/command";
    static constexpr const char* modules_path = "/krr/modules";
    static constexpr const char* modules_dir = "/krr/modules.d";
    static constexpr const char* busybox_path = "/bin/busybox";

    // `init` is the guest init executable (embedded_guest_init() in krr).
    explicit GuestImageBuilder(std::span<const uint8_t> init);

    // The static busybox to install; its applet list is read by running it
    // with --list-full on the host.
    void set_busybox(const std::string& host_path);
    // argv of the command to run; with none, init runs an interactive /bin/sh.
    void set_command(std::vector<std::string> argv);
    // Copies a host file (its contents and permission bits) into the guest.
    // A file given twice at one guest path, or a path through a file, is an error.
    void add_file(const GuestFileSpec& file);
    // A kernel module (.ko) that init loads before the command, in the order added.
    void add_module(const std::string& host_path);

    // The newc cpio archive; throws krr::Error naming the input that failed.
    std::vector<uint8_t> build() const;
    // build() written to `output_path` (replaced atomically).
    void write(const std::string& output_path) const;

private:
    struct Entry {
        enum class Kind { directory, file, symlink, char_device } kind = Kind::file;
        uint32_t permissions = 0644;
        std::vector<uint8_t> data; // file contents or symlink target
        uint32_t major = 0;
        uint32_t minor = 0;
        bool from_user = false;
    };
    // Keyed by guest path; std::map's order puts every directory before
    // what it contains.
    using Tree = std::map<std::string, Entry>;

    void put(Tree& tree, const std::string& path, Entry entry) const;
    void put_parents(Tree& tree, const std::string& path) const;

    std::vector<uint8_t> init_;
    std::string busybox_;
    std::vector<std::string> command_;
    std::vector<GuestFileSpec> files_;
    std::vector<std::string> modules_;
};

} // namespace krr
