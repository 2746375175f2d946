// tui/source_lines on a small program built with -g (source_lines_sample*.c):
// for every byte of its functions, the file:line must be addr2line's. The
// functions and their sizes come from nm, not from the code under test.
#include "guest-model/error.h"
#include "tui/source_lines.h"

#include <cstdio>
#include <cstdlib>
#include <doctest/doctest.h>
#include <sstream>
#include <string>
#include <vector>

using krr::tui::SourceLines;

namespace {

std::vector<std::string> output_lines(const std::string& command) {
    std::vector<std::string> lines;
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE_MESSAGE(pipe != nullptr, command);
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe)) {
        std::string line = buffer;
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
            line.pop_back();
        }
        lines.push_back(line);
    }
    REQUIRE_MESSAGE(pclose(pipe) == 0, command);
    return lines;
}

std::string sample_path() {
    const char* path = std::getenv("KRR_SOURCE_LINES_SAMPLE");
    REQUIRE_MESSAGE(path != nullptr,
                    "KRR_SOURCE_LINES_SAMPLE names the -g program (meson sets it)");
    return path;
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

// addr2line's "file:line", without its " (discriminator N)"; "??:0" and
// "??:?" mean no line.
std::string without_discriminator(const std::string& line) {
    return line.substr(0, line.find(" (discriminator"));
}

} // namespace

TEST_CASE("source lines: every byte of a -g program's functions has addr2line's file:line") {
    const std::string sample = sample_path();
    // "address size type name" for the functions the sample defines.
    std::vector<uint64_t> addresses;
    int functions = 0;
    for (const std::string& line : output_lines("nm -S --defined-only '" + sample + "'")) {
        std::istringstream fields(line);
        std::string address, size, type, name;
        if (!(fields >> address >> size >> type >> name) || (type != "T" && type != "t") ||
            (name != "main" && name.rfind("sample_", 0) != 0)) {
            continue;
        }
        ++functions;
        const uint64_t start = std::stoull(address, nullptr, 16);
        for (uint64_t a = start; a < start + std::stoull(size, nullptr, 16); ++a) {
            addresses.push_back(a);
        }
    }
    REQUIRE(functions == 3); // main, sample_fill, sample_mix
    std::string command = "addr2line -e '" + sample + "'";
    for (uint64_t a : addresses) {
        command += " " + hex(a);
    }
    const std::vector<std::string> expected = output_lines(command);
    REQUIRE(expected.size() == addresses.size());

    SourceLines lines(sample);
    size_t checked = 0;
    size_t files = 0;
    std::string last_file;
    for (size_t i = 0; i < addresses.size(); ++i) {
        const std::string want = without_discriminator(expected[i]);
        const std::optional<std::string> got = lines.lookup(addresses[i]);
        INFO("address " << hex(addresses[i]));
        if (want.rfind("??:", 0) == 0) {
            CHECK_FALSE(got.has_value());
        } else {
            REQUIRE(got.has_value());
            CHECK(*got == want);
            const std::string file = want.substr(0, want.rfind(':'));
            files += file != last_file;
            last_file = file;
        }
        ++checked;
    }
    CHECK(checked == addresses.size());
    CHECK(files >= 2); // both compilation units were reached
}

TEST_CASE("source lines: an address outside every unit has none") {
    SourceLines lines(sample_path());
    CHECK_FALSE(lines.lookup(0).has_value());
    CHECK_FALSE(lines.lookup(0xffffffff81000000ULL).has_value());
}

TEST_CASE("source lines: a file without DWARF, or none, is an error naming it") {
    CHECK_THROWS_WITH_AS(SourceLines("/nonexistent/vmlinux"),
                         doctest::Contains("/nonexistent/vmlinux"), krr::Error);
    // A stripped system program.
    CHECK_THROWS_WITH_AS(SourceLines("/bin/sh"), doctest::Contains("/bin/sh"), krr::Error);
}
