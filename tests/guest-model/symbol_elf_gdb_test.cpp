// Debian's gdb 13 loads the symbol file made from the default kernel's real
// System.map: names resolve to the addresses the map gives (read here by the
// test itself, not by krr's parser), text symbols are functions, data symbols
// are data, and both generation and loading take well under the time a user
// would notice. With a live target (QEMU's gdb stub booting the same kernel,
// stopped at start_kernel) disassembly and backtraces speak in kernel names.
#include "guest-model/symbol_elf.h"
#include "guest-model/symbols.h"
#include "trace/temp_dir.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

std::string default_kernel_file(const std::string& name) {
    const char* cache = std::getenv("KRR_CACHE");
    const char* home = std::getenv("HOME");
    std::string base = cache && *cache ? cache : std::string(home ? home : "") + "/.cache/krr";
    return base + "/kernels/default/" + name;
}

struct MapEntry {
    uint64_t address = 0;
    char type = 0;
};

// name -> entries, and the names each address carries.
struct IndependentMap {
    std::map<std::string, std::vector<MapEntry>> by_name;
    std::map<uint64_t, std::vector<std::string>> names_at;

    // The names of the highest place at or below `address`.
    const std::vector<std::string>& containing(uint64_t address) const {
        auto it = names_at.upper_bound(address);
        REQUIRE(it != names_at.begin());
        return std::prev(it)->second;
    }
};

IndependentMap read_map(const std::string& path) {
    IndependentMap m;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string address, type, name;
        fields >> address >> type >> name;
        const uint64_t a = std::stoull(address, nullptr, 16);
        m.by_name[name].push_back({a, type[0]});
        if (type != "A" && type != "a") {
            m.names_at[a].push_back(name);
        }
    }
    return m;
}

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

struct GdbRun {
    int exit_status = -1;
    std::string output;
    double seconds = 0;
};

GdbRun run_gdb(const std::vector<std::string>& commands) {
    std::string line = "timeout 120 gdb -nx -batch";
    for (const auto& c : commands) {
        REQUIRE(c.find('\'') == std::string::npos);
        line += " -ex '" + c + "'";
    }
    line += " 2>&1 </dev/null";
    const auto start = std::chrono::steady_clock::now();
    FILE* pipe = ::popen(line.c_str(), "r");
    REQUIRE(pipe != nullptr);
    GdbRun run;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) {
        run.output.append(buf, n);
    }
    const int status = ::pclose(pipe);
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

// Each expected line appears as a whole line, after the previous one.
void check_lines_in_order(const std::string& output, const std::vector<std::string>& lines) {
    std::istringstream in(output);
    std::string line;
    for (const std::string& wanted : lines) {
        bool found = false;
        while (!found && std::getline(in, line)) {
            found = line == wanted;
        }
        CHECK_MESSAGE(found, "missing, or out of order: " << wanted);
    }
}

// The one address of a name that no other name shares, so gdb has no alias
// to prefer when it names the address.
uint64_t sole_address(const IndependentMap& map, const std::string& name) {
    auto it = map.by_name.find(name);
    REQUIRE_MESSAGE(it != map.by_name.end(), name << " is not in System.map");
    REQUIRE(it->second.size() == 1);
    REQUIRE(map.names_at.at(it->second[0].address).size() == 1);
    return it->second[0].address;
}

IndependentMap load_default_map() {
    const std::string map_path = default_kernel_file("System.map");
    if (!std::ifstream(map_path)) {
        FAIL("no System.map at " << map_path
                                 << ": run ./scripts/setup to provision the default guest");
    }
    IndependentMap map = read_map(map_path);
    REQUIRE(map.by_name.size() > 50000);
    return map;
}

// QEMU booting the default kernel, stopped before its first instruction,
// with its gdb stub on a Unix socket; killed when the test ends.
class QemuStub {
public:
    QemuStub(const std::string& kernel, const std::string& socket) {
        const std::string gdb = "unix:" + socket + ",server=on,wait=off";
        std::vector<std::string> args = {"qemu-system-x86_64",
                                         "-M",
                                         "microvm,acpi=off",
                                         "-accel",
                                         "tcg",
                                         "-m",
                                         "256",
                                         "-nodefaults",
                                         "-no-user-config",
                                         "-display",
                                         "none",
                                         "-kernel",
                                         kernel,
                                         "-append",
                                         "console=ttyS0 nokaslr",
                                         "-S",
                                         "-gdb",
                                         gdb};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        const int err = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (err != 0) {
            pid_ = -1;
            FAIL("cannot start qemu-system-x86_64 (Debian package qemu-system-x86)");
        }
        for (int i = 0; i < 200 && !std::filesystem::exists(socket); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        REQUIRE_MESSAGE(std::filesystem::exists(socket), "QEMU made no gdb socket");
    }
    ~QemuStub() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    QemuStub(const QemuStub&) = delete;
    QemuStub& operator=(const QemuStub&) = delete;

private:
    pid_t pid_ = -1;
};

} // namespace

TEST_CASE("gdb 13 resolves the default kernel's System.map through the symbol file") {
    const std::string map_path = default_kernel_file("System.map");
    const IndependentMap map = load_default_map();

    krr::test::TempDir dir;
    const std::string elf = dir / "kernel.sym";
    const auto start = std::chrono::steady_clock::now();
    krr::write_symbol_elf(krr::SymbolTable::load(map_path), elf);
    const double generate_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    const uint64_t openat2 = sole_address(map, "do_sys_openat2"); // static: t
    const uint64_t vfs_read = sole_address(map, "vfs_read");      // global: T
    const uint64_t init_task = sole_address(map, "init_task");    // D
    const uint64_t runqueues = sole_address(map, "runqueues");    // per-CPU offset
    REQUIRE(map.by_name.at("do_sys_openat2")[0].type == 't');
    REQUIRE(runqueues < 0x100000);

    // Without a target gdb keeps its default i386; krr gdbserver's target
    // description makes it x86-64.
    const std::vector<std::string> load = {"set architecture i386:x86-64", "symbol-file " + elf};
    const GdbRun loading = run_gdb(load);
    CHECK(loading.exit_status == 0);

    std::vector<std::string> commands = load;
    for (const std::string& c : {
             std::string("info address do_sys_openat2"),
             "info symbol " + hex(openat2 + 0x10),
             std::string("break do_sys_openat2"),
             "info symbol " + hex(vfs_read),
             std::string("whatis vfs_read"),
             "info symbol " + hex(init_task + 4),
             std::string("whatis init_task"),
             std::string("info address runqueues"),
             "info symbol " + hex(runqueues),
         }) {
        commands.push_back(c);
    }
    const GdbRun run = run_gdb(commands);
    {
        INFO("gdb said:\n" << run.output);
        CHECK(run.exit_status == 0);
        check_lines_in_order(run.output, {
                                             "Symbol \"do_sys_openat2\" is at " + hex(openat2) +
                                                 " in a file compiled without debugging.",
                                             "do_sys_openat2 + 16 in section .text",
                                             "Breakpoint 1 at " + hex(openat2),
                                             "vfs_read in section .text",
                                             "type = <text variable, no debug info>",
                                             "init_task + 4 in section .data",
                                             "type = <data variable, no debug info>",
                                             "Symbol \"runqueues\" is at " + hex(runqueues) +
                                                 " in a file compiled without debugging.",
                                             // A per-CPU offset is a small number, not a
                                             // place: user addresses there must not be
                                             // named after per-CPU variables.
                                             "No symbol matches " + hex(runqueues) + ".",
                                         });
    }

    MESSAGE("symbol file for " << map.by_name.size() << " names: generated in " << generate_seconds
                               << " s, loaded by gdb in " << loading.seconds << " s");
    CHECK(generate_seconds < 5.0);
    CHECK(loading.seconds < 5.0);
}

TEST_CASE("gdb 13 on a live kernel: a breakpoint, disassembly and a backtrace in kernel names") {
    const IndependentMap map = load_default_map();
    krr::test::TempDir dir;
    const std::string elf = krr::symbol_elf_for(default_kernel_file("System.map"), dir / "cache");
    const uint64_t start_kernel = sole_address(map, "start_kernel");
    const uint64_t fentry = sole_address(map, "__fentry__");

    const std::string socket = dir / "gdb.sock";
    QemuStub qemu(default_kernel_file("vmlinuz"), socket);
    // A hardware breakpoint: the kernel is not in memory yet, so gdb cannot
    // plant an int3 (nor read a prologue) at the reset vector. gdb detaches
    // rather than kills: QEMU exits on 'k' without always answering, and gdb
    // then fails on the broken pipe.
    const GdbRun run =
        run_gdb({"set architecture i386:x86-64", "symbol-file " + elf, "target remote " + socket,
                 "hbreak start_kernel", "continue", "x/2i $pc", "bt 2", "detach"});
    INFO("gdb said:\n" << run.output);
    CHECK(run.exit_status == 0);
    check_lines_in_order(
        run.output,
        {
            "Breakpoint 1, " + hex(start_kernel) + " in start_kernel ()",
            "=> " + hex(start_kernel) + " <start_kernel>:\tcall   " + hex(fentry) + " <__fentry__>",
            "#0  " + hex(start_kernel) + " in start_kernel ()",
        });

    // The second instruction is named by its offset into start_kernel.
    std::smatch m;
    const std::regex second_instruction(R"(\n   0x([0-9a-f]+) <start_kernel\+(\d+)>:)");
    REQUIRE(std::regex_search(run.output, m, second_instruction));
    CHECK(std::stoull(m[1].str(), nullptr, 16) - start_kernel == std::stoull(m[2].str()));

    // The caller's frame is named after the map's symbol that contains its
    // return address.
    const std::regex caller(R"(\n#1  0x([0-9a-f]+) in (\S+) \(\))");
    REQUIRE(std::regex_search(run.output, m, caller));
    const auto& names = map.containing(std::stoull(m[1].str(), nullptr, 16));
    CHECK(std::find(names.begin(), names.end(), m[2].str()) != names.end());
}
