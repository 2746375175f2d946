#include "recorder/guest-image/guest_locator.h"

#include "guest-model/error.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace krr {

namespace {

const char* const setup_hint = "; run ./scripts/setup to provision the default guest";

// Empty when `path` is a readable regular file, else why not.
std::string unreadable_reason(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return errno_text(errno);
    }
    if (!S_ISREG(st.st_mode)) {
        return "not a regular file";
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno_text(errno);
    }
    ::close(fd);
    if (st.st_size == 0) {
        return "empty file";
    }
    return {};
}

std::string module_key(std::string name) {
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
}

} // namespace

std::string guest_cache_dir() {
    if (const char* cache = std::getenv("KRR_CACHE"); cache != nullptr && *cache != '\0') {
        return cache;
    }
    const char* home = std::getenv("HOME");
    if (home == nullptr || *home == '\0') {
        throw Error("guest cache", "neither KRR_CACHE nor HOME is set");
    }
    return std::string(home) + "/.cache/krr";
}

std::string locate_kernel(const std::optional<std::string>& explicit_path) {
    if (explicit_path) {
        auto why = unreadable_reason(*explicit_path);
        if (why.empty()) {
            return *explicit_path;
        }
        // Not a file: a bare word names a kernel in the cache ("syzbot", the
        // link `krr kernel build` makes). A path keeps its own error.
        const bool is_name = !explicit_path->empty() &&
                             explicit_path->find('/') == std::string::npos &&
                             *explicit_path != "." && *explicit_path != "..";
        if (!is_name) {
            throw Error("kernel: " + *explicit_path, why);
        }
        const std::string cached = guest_cache_dir() + "/kernels/" + *explicit_path + "/vmlinuz";
        if (auto cached_why = unreadable_reason(cached); !cached_why.empty()) {
            throw Error("kernel: " + *explicit_path,
                        "neither a file (" + why + ") nor a kernel in the cache (" + cached + ": " +
                            cached_why + "; 'krr kernel build' makes 'syzbot' and 'debug')");
        }
        return cached;
    }
    const std::string path = guest_cache_dir() + "/kernels/default/vmlinuz";
    if (auto why = unreadable_reason(path); !why.empty()) {
        throw Error("kernel: " + path, why + setup_hint);
    }
    return path;
}

std::string locate_busybox() {
    if (const char* path = std::getenv("KRR_BUSYBOX"); path != nullptr && *path != '\0') {
        if (auto why = unreadable_reason(path); !why.empty()) {
            throw Error(std::string("busybox: ") + path, why);
        }
        return path;
    }
    const std::string path = guest_cache_dir() + "/busybox";
    if (auto why = unreadable_reason(path); !why.empty()) {
        throw Error("busybox: " + path, why + setup_hint);
    }
    return path;
}

std::string locate_module(const std::string& name_or_path, const std::string& kernel_path) {
    namespace fs = std::filesystem;
    const bool is_path =
        name_or_path.find('/') != std::string::npos ||
        (name_or_path.size() > 3 && name_or_path.compare(name_or_path.size() - 3, 3, ".ko") == 0);
    if (is_path) {
        if (auto why = unreadable_reason(name_or_path); !why.empty()) {
            throw Error("module: " + name_or_path, why);
        }
        return name_or_path;
    }
    std::error_code ec;
    const fs::path kernel = fs::canonical(kernel_path, ec);
    const fs::path tree = (ec ? fs::path(kernel_path) : kernel).parent_path() / "modules";
    if (!fs::is_directory(tree, ec)) {
        throw Error("module: " + name_or_path, "not a file, and there is no modules tree at " +
                                                   tree.string() + " to look the name up in");
    }
    const std::string wanted = module_key(name_or_path) + ".ko";
    // Sorted so that two modules of the same name resolve the same way every time.
    std::vector<fs::path> found;
    for (auto it = fs::recursive_directory_iterator(tree, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && module_key(it->path().filename().string()) == wanted) {
            found.push_back(it->path());
        }
    }
    if (ec) {
        throw Error("module: " + name_or_path,
                    "cannot search " + tree.string() + ": " + ec.message());
    }
    if (found.empty()) {
        throw Error("module: " + name_or_path, "no " + wanted + " in " + tree.string());
    }
    std::sort(found.begin(), found.end());
    return found.front().string();
}

} // namespace krr
