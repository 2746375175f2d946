// The one place krr's command-line grammar lives. Each command declares its
// options as data (CommandSpec); the parser turns argv into ParsedArgs or a
// krr::Error naming the bad flag. Help text is generated from the same specs.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace krr::cli {

struct OptionSpec {
    std::string name;        // long name without dashes, e.g. "kernel"
    char short_name = 0;     // e.g. 'o', or 0
    std::string value_name;  // empty: a switch without a value
    std::string help;
    bool repeatable = false;
};

struct ParsedArgs {
    std::map<std::string, std::vector<std::string>> values;  // option -> values ("" for switches)
    std::vector<std::string> positional;                     // before "--"
    std::vector<std::string> command;                        // after "--"
    bool had_separator = false;

    bool has(const std::string& name) const { return values.count(name) != 0; }
    std::optional<std::string> get(const std::string& name) const;
    std::vector<std::string> all(const std::string& name) const;
    // Parse an unsigned number option (decimal, 0x hex, or with a K/M/G/T
    // suffix when `allow_size_suffix`); throws krr::Error on garbage.
    std::optional<uint64_t> get_u64(const std::string& name, bool allow_size_suffix = false) const;
};

struct CommandSpec {
    std::string name;
    std::string usage;    // e.g. "TRACE [--json]"
    std::string summary;  // one line
    std::string description;
    std::vector<OptionSpec> options;
    size_t min_positional = 0;
    size_t max_positional = 0;
    bool takes_command = false;     // accepts "-- CMD [ARGS]"
    bool requires_command = false;  // ... and insists on it
    std::function<int(const ParsedArgs&)> run;
};

// Throws krr::Error("<command>: <why>") on unknown or malformed options.
ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args);
std::string command_help(const CommandSpec& spec);

// Shared option groups.
std::vector<OptionSpec> machine_options();

uint64_t parse_number(const std::string& text, bool allow_size_suffix, const std::string& what);

} // namespace krr::cli
