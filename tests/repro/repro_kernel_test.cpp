#include "guest-model/error.h"
#include "repro/repro_kernel.h"

#include <cstdlib>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

// A KRR_CACHE of its own for the duration of a test.
struct ScratchCache {
    fs::path root;
    std::string saved;
    bool had = false;
    ScratchCache() {
        root = fs::temp_directory_path() / ("krr-repro-kernel-test-" + std::to_string(getpid()));
        fs::remove_all(root);
        fs::create_directories(root / "kernels");
        if (const char* old = std::getenv("KRR_CACHE")) {
            saved = old;
            had = true;
        }
        setenv("KRR_CACHE", root.c_str(), 1);
    }
    ~ScratchCache() {
        if (had) {
            setenv("KRR_CACHE", saved.c_str(), 1);
        } else {
            unsetenv("KRR_CACHE");
        }
        fs::remove_all(root);
    }
    // kernels/NAME with a vmlinuz and the given config text.
    fs::path add_kernel(const std::string& name, const std::string& config) {
        fs::path dir = root / "kernels" / name;
        fs::create_directories(dir / "build");
        std::ofstream(dir / "vmlinuz") << "not really a bzImage";
        std::ofstream(dir / "config") << config;
        std::ofstream(dir / "build" / "Makefile") << "all:\n";
        return dir;
    }
};

std::string error_of(const std::optional<std::string>& name) {
    try {
        krr::resolve_repro_kernel(name);
    } catch (const krr::Error& e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST_CASE("repro kernel: KASAN in the config means syzbot reports") {
    CHECK(krr::config_has_kasan("CONFIG_X=y\nCONFIG_KASAN=y\nCONFIG_Y=m\n"));
    CHECK_FALSE(krr::config_has_kasan("CONFIG_X=y\n# CONFIG_KASAN is not set\n"));
    CHECK_FALSE(krr::config_has_kasan("CONFIG_KASAN_GENERIC=y\n"));
}

TEST_CASE("repro kernel: profiles by name, with their tree, vmlinux and gdb helpers") {
    ScratchCache cache;
    fs::path syzbot = cache.add_kernel("syzbot", "CONFIG_KASAN=y\n");
    std::ofstream(syzbot / "gdbinit") << "# helpers\n";
    std::ofstream(syzbot / "vmlinux") << "elf";
    cache.add_kernel("default", "CONFIG_SLUB_DEBUG=y\n");

    krr::ReproKernel k = krr::resolve_repro_kernel(std::string("syzbot"));
    CHECK(k.vmlinuz == (syzbot / "vmlinuz").string());
    CHECK(k.kind == krr::ReportKind::Syzbot);
    CHECK(k.cmdline == "panic_on_warn=1");
    CHECK(k.module_build == (syzbot / "build").string());
    CHECK(k.gdbinit == (syzbot / "gdbinit").string());
    CHECK(k.vmlinux == (syzbot / "vmlinux").string());

    for (const std::optional<std::string>& name :
         {std::optional<std::string>(), std::optional<std::string>("default")}) {
        krr::ReproKernel d = krr::resolve_repro_kernel(name);
        CHECK(d.vmlinuz == (cache.root / "kernels" / "default" / "vmlinuz").string());
        CHECK(d.kind == krr::ReportKind::Default);
        CHECK(d.cmdline.empty());
        CHECK(d.gdbinit.empty());
    }
    // By path: the kind still comes from the config beside it.
    krr::ReproKernel p = krr::resolve_repro_kernel((syzbot / "vmlinuz").string());
    CHECK(p.kind == krr::ReportKind::Syzbot);
}

TEST_CASE("repro kernel: a missing or unknown kernel says what to do") {
    ScratchCache cache;
    const std::string missing = error_of(std::string("syzbot"));
    CHECK(missing.rfind("repro: --kernel syzbot: not built yet (no ", 0) == 0);
    CHECK(missing.find("./scripts/setup --syzbot-kernel") != std::string::npos);
    CHECK(missing.find("krr kernel build --profile syzbot") != std::string::npos);
    CHECK(error_of(std::string("debug")).find("'krr kernel build --profile debug'") !=
          std::string::npos);
    CHECK(error_of(std::string("kasan")) ==
          "repro: --kernel kasan: not a kernel profile (default, syzbot, debug) nor a file");
    CHECK(error_of(std::string("/nonexistent/bzImage")) ==
          "repro: --kernel /nonexistent/bzImage: no such file");
}
