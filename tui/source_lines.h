// Addresses to "file:line" from the kernel's DWARF line tables (the debug
// vmlinux in the kernel cache), for the detail pane. Optional: a kernel
// without DWARF simply has no source lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace krr::tui {

class SourceLines {
public:
    // Throws krr::Error("source lines: <path>", why) when the file cannot be
    // opened or has no DWARF address ranges.
    explicit SourceLines(const std::string& vmlinux);
    ~SourceLines();
    SourceLines(const SourceLines&) = delete;
    SourceLines& operator=(const SourceLines&) = delete;

    // The line whose code holds `address`, or nullopt.
    std::optional<std::string> lookup(uint64_t address);

private:
    void* dbg_ = nullptr;     // Dwarf_Debug
    void* aranges_ = nullptr; // Dwarf_Arange*
    int64_t arange_count_ = 0;
};

} // namespace krr::tui
