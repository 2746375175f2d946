// The kernel's symbol table as System.map (or /proc/kallsyms) lists it:
// addresses to names for backtraces and the timeline, names to addresses for
// breakpoints. Parsing trusts nothing; a malformed line is an error naming it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace krr {

struct Symbol {
    uint64_t address = 0;
    char type = 0; // nm's letter: T/t text, D/d data, B/b bss, R/r read-only, A absolute, ...
    std::string name;
};

struct SymbolMatch {
    const Symbol* symbol = nullptr;
    uint64_t offset = 0; // address - symbol->address
};

class SymbolTable {
public:
    // An address this far past the nearest symbol is not taken to be inside
    // it: kernel objects are far smaller, and the gaps between the per-CPU
    // area, the kernel image and modules are far larger.
    static constexpr uint64_t default_max_offset = 1u << 20;

    // Throws krr::Error("symbols: <path>", why).
    static SymbolTable load(const std::string& path);
    // The text of a map file, checked to be a regular file of sensible size,
    // for callers that need the bytes as well (to hash them). Throws as load.
    static std::string read_map_text(const std::string& path);
    // `source` names the text in error messages ("symbols: <source>: line N: ...").
    static SymbolTable parse(std::string_view text, const std::string& source);

    // The symbol containing `address`: the highest symbol at or below it,
    // provided the next symbol starts above it and the offset is within
    // `max_offset`. Absolute symbols (A) are constants, not places, and are
    // never returned; nor is anything at or past the last symbol's address
    // other than that address itself (System.map ends with end markers).
    std::optional<SymbolMatch> lookup(uint64_t address,
                                      uint64_t max_offset = default_max_offset) const;
    // The lowest address carrying this name (static functions can repeat).
    std::optional<uint64_t> address_of(std::string_view name) const;
    // "name+0x1a" or "0xffffffff81234567" when nothing contains the address.
    std::string describe(uint64_t address) const;

    const std::vector<Symbol>& symbols() const { return symbols_; } // sorted by address
    size_t size() const { return symbols_.size(); }

private:
    std::vector<Symbol> symbols_; // located symbols only (no absolute ones), sorted
    std::unordered_map<std::string, uint64_t> by_name_;
};

} // namespace krr
