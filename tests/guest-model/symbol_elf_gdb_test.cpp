// Debian's gdb 13 loads the symbol file made from the default kernel's real
// System.map: names resolve to the addresses the map gives (read here by the
// test itself, not by krr's parser), text symbols are functions, data symbols
// are data, and both generation and loading take well under the time a user
// would notice.
#include "guest-model/symbol_elf.h"
#include "guest-model/symbols.h"
#include "trace/temp_dir.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <doctest/doctest.h>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace {

std::string default_system_map() {
    const char* cache = std::getenv("KRR_CACHE");
    const char* home = std::getenv("HOME");
    std::string base = cache && *cache ? cache : std::string(home ? home : "") + "/.cache/krr";
    return base + "/kernels/default/System.map";
}

struct MapEntry {
    uint64_t address = 0;
    char type = 0;
};

// name -> entries, and how many names each address carries.
struct IndependentMap {
    std::map<std::string, std::vector<MapEntry>> by_name;
    std::map<uint64_t, int> names_at;
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
        ++m.names_at[a];
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
    std::string line = "gdb -nx -batch";
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

// The one address of a name that no other name shares, so gdb has no alias
// to prefer when it names the address.
uint64_t sole_address(const IndependentMap& map, const std::string& name) {
    auto it = map.by_name.find(name);
    REQUIRE_MESSAGE(it != map.by_name.end(), name << " is not in System.map");
    REQUIRE(it->second.size() == 1);
    REQUIRE(map.names_at.at(it->second[0].address) == 1);
    return it->second[0].address;
}

} // namespace

TEST_CASE("gdb 13 resolves the default kernel's System.map through the symbol file") {
    const std::string map_path = default_system_map();
    if (!std::ifstream(map_path)) {
        FAIL("no System.map at " << map_path
                                 << ": run ./scripts/setup to provision the default guest");
    }
    const IndependentMap map = read_map(map_path);
    REQUIRE(map.by_name.size() > 50000);

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
    INFO("gdb said:\n" << run.output);
    CHECK(run.exit_status == 0);
    const std::string& out = run.output;
    CHECK(out.find("Symbol \"do_sys_openat2\" is at " + hex(openat2)) != std::string::npos);
    CHECK(out.find("do_sys_openat2 + 16 in section .text\n") != std::string::npos);
    CHECK(out.find("Breakpoint 1 at " + hex(openat2) + "\n") != std::string::npos);
    CHECK(out.find("vfs_read in section .text\n") != std::string::npos);
    CHECK(out.find("type = <text variable, no debug info>") != std::string::npos);
    CHECK(out.find("init_task + 4 in section .data\n") != std::string::npos);
    CHECK(out.find("type = <data variable, no debug info>") != std::string::npos);
    CHECK(out.find("Symbol \"runqueues\" is at " + hex(runqueues)) != std::string::npos);
    // A per-CPU offset is a small number, not a place: user addresses there
    // must not be named after per-CPU variables.
    CHECK(out.find("No symbol matches " + hex(runqueues)) != std::string::npos);

    MESSAGE("symbol file for " << map.by_name.size() << " names: generated in " << generate_seconds
                               << " s, loaded by gdb in " << loading.seconds << " s");
    CHECK(generate_seconds < 5.0);
    CHECK(loading.seconds < 5.0);
}
