#include "guest-model/symbols.h"

#include "guest-model/error.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace krr {

namespace {

constexpr size_t max_map_size = 256u << 20;
constexpr size_t max_name_length = 1024;

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

std::string_view next_field(std::string_view& line) {
    size_t start = 0;
    while (start < line.size() && is_space(line[start])) {
        ++start;
    }
    size_t end = start;
    while (end < line.size() && !is_space(line[end])) {
        ++end;
    }
    std::string_view field = line.substr(start, end - start);
    line.remove_prefix(end);
    return field;
}

std::optional<uint64_t> parse_hex(std::string_view text) {
    if (text.empty() || text.size() > 16) {
        return std::nullopt;
    }
    uint64_t v = 0;
    for (char c : text) {
        int digit;
        if (c >= '0' && c <= '9') {
            digit = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            digit = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            digit = c - 'A' + 10;
        } else {
            return std::nullopt;
        }
        v = (v << 4) | uint64_t(digit);
    }
    return v;
}

bool is_absolute(char type) {
    return type == 'A' || type == 'a';
}

// Among aliases at one address, markers such as _text or __start_x come
// first in System.map; the function or object behind them is the better name.
bool better_alias(const Symbol& candidate, const Symbol& current) {
    return current.name[0] == '_' && candidate.name[0] != '_';
}

} // namespace

SymbolTable SymbolTable::load(const std::string& path) {
    return parse(read_map_text(path), path);
}

std::string SymbolTable::read_map_text(const std::string& path) {
    const std::string what = "symbols: " + path;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw Error(what, errno_text(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw Error(what, "not a regular file");
    }
    if (static_cast<uint64_t>(st.st_size) > max_map_size) {
        throw Error(what, "too large for a symbol map");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Error(what, errno_text(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw Error(what, "read failed");
    }
    return text.str();
}

SymbolTable SymbolTable::parse(std::string_view text, const std::string& source) {
    SymbolTable table;
    size_t line_number = 0;
    while (!text.empty()) {
        ++line_number;
        size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        auto fail = [&](const std::string& why) {
            throw Error("symbols: " + source + ": line " + std::to_string(line_number), why);
        };
        std::string_view rest = line;
        std::string_view address_text = next_field(rest);
        if (address_text.empty()) {
            continue;
        }
        std::string_view type_text = next_field(rest);
        std::string_view name = next_field(rest);
        std::string_view module = next_field(rest);
        auto address = parse_hex(address_text);
        if (!address) {
            fail("'" + std::string(address_text.substr(0, 40)) + "' is not a hex address");
        }
        // nm writes '?' for a symbol in a section it cannot classify (a
        // debug kernel's __nosave_begin, for one).
        if (type_text.size() != 1 ||
            !(std::isalpha(static_cast<unsigned char>(type_text[0])) || type_text[0] == '?')) {
            fail("expected a one-letter symbol type after the address");
        }
        if (name.empty()) {
            fail("missing symbol name");
        }
        if (name.size() > max_name_length) {
            fail("symbol name longer than " + std::to_string(max_name_length) + " characters");
        }
        // /proc/kallsyms adds "[module]" to module symbols; nothing else may follow.
        if (!module.empty() && (module.front() != '[' || module.back() != ']')) {
            fail("unexpected text after the symbol name");
        }
        if (!next_field(rest).empty()) {
            fail("unexpected text after the symbol name");
        }
        Symbol s{*address, type_text[0], std::string(name)};
        table.by_name_.try_emplace(s.name, s.address);
        auto& known = table.by_name_[s.name];
        known = std::min(known, s.address);
        if (!is_absolute(s.type)) {
            table.symbols_.push_back(std::move(s));
        }
    }
    std::stable_sort(table.symbols_.begin(), table.symbols_.end(),
                     [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
    return table;
}

std::optional<SymbolMatch> SymbolTable::lookup(uint64_t address, uint64_t max_offset) const {
    auto after = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                                  [](uint64_t a, const Symbol& s) { return a < s.address; });
    if (after == symbols_.begin()) {
        return std::nullopt;
    }
    auto last = after - 1;
    if (after == symbols_.end() && last->address != address) {
        return std::nullopt;
    }
    const uint64_t start = last->address;
    if (address - start > max_offset) {
        return std::nullopt;
    }
    auto first = last;
    while (first != symbols_.begin() && (first - 1)->address == start) {
        --first;
    }
    const Symbol* best = &*first;
    for (auto it = first; it != after; ++it) {
        if (better_alias(*it, *best)) {
            best = &*it;
        }
    }
    return SymbolMatch{best, address - start};
}

std::optional<uint64_t> SymbolTable::address_of(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    if (it == by_name_.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::string SymbolTable::describe(uint64_t address) const {
    char buf[48];
    if (auto m = lookup(address)) {
        if (m->offset == 0) {
            return m->symbol->name;
        }
        std::snprintf(buf, sizeof buf, "+%#llx", static_cast<unsigned long long>(m->offset));
        return m->symbol->name + buf;
    }
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(address));
    return buf;
}

} // namespace krr
