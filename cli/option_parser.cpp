#include "cli/option_parser.h"

#include "guest-model/error.h"

#include <sstream>

namespace krr::cli {

std::optional<std::string> ParsedArgs::get(const std::string& name) const {
    auto it = values.find(name);
    if (it == values.end() || it->second.empty()) {
        return std::nullopt;
    }
    return it->second.back();
}

std::vector<std::string> ParsedArgs::all(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
}

uint64_t parse_number(const std::string& text, bool allow_size_suffix, const std::string& what) {
    if (text.empty()) {
        throw Error(what, "empty number");
    }
    std::string digits = text;
    uint64_t scale = 1;
    if (allow_size_suffix) {
        char last = static_cast<char>(std::toupper(static_cast<unsigned char>(digits.back())));
        int shift = last == 'K' ? 10 : last == 'M' ? 20 : last == 'G' ? 30 : last == 'T' ? 40 : 0;
        if (shift) {
            scale = 1ULL << shift;
            digits.pop_back();
        }
    }
    int base = 10;
    size_t start = 0;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
        base = 16;
        start = 2;
    }
    if (start >= digits.size()) {
        throw Error(what, "'" + text + "' is not a number");
    }
    uint64_t v = 0;
    for (size_t i = start; i < digits.size(); ++i) {
        int d;
        char c = digits[i];
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (base == 16 && c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (base == 16 && c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            throw Error(what, "'" + text + "' is not a number");
        }
        if (v > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) {
            throw Error(what, "'" + text + "' is too large");
        }
        v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    }
    if (scale != 1 && v > UINT64_MAX / scale) {
        throw Error(what, "'" + text + "' is too large");
    }
    return v * scale;
}

std::optional<uint64_t> ParsedArgs::get_u64(const std::string& name, bool allow_size_suffix) const {
    auto v = get(name);
    if (!v) {
        return std::nullopt;
    }
    return parse_number(*v, allow_size_suffix, "--" + name);
}

namespace {

const OptionSpec* find_long(const CommandSpec& spec, const std::string& name) {
    for (const auto& o : spec.options) {
        if (o.name == name) {
            return &o;
        }
    }
    return nullptr;
}

const OptionSpec* find_short(const CommandSpec& spec, char c) {
    for (const auto& o : spec.options) {
        if (o.short_name && o.short_name == c) {
            return &o;
        }
    }
    return nullptr;
}

} // namespace

ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args) {
    ParsedArgs out;
    const std::string ctx = spec.name;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--") {
            if (!spec.takes_command) {
                throw Error(ctx, "'--' is not expected: this command runs no guest command");
            }
            out.had_separator = true;
            out.command.assign(args.begin() + static_cast<long>(i) + 1, args.end());
            break;
        }
        const OptionSpec* opt = nullptr;
        std::optional<std::string> inline_value;
        std::string shown = a;
        if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
            std::string name = a.substr(2);
            auto eq = name.find('=');
            if (eq != std::string::npos) {
                inline_value = name.substr(eq + 1);
                name = name.substr(0, eq);
                shown = "--" + name;
            }
            opt = find_long(spec, name);
            if (!opt) {
                throw Error(ctx, "unknown option '--" + name + "' (see 'krr " + spec.name +
                                     " --help')");
            }
        } else if (a.size() >= 2 && a[0] == '-' && a[1] != '-') {
            opt = a.size() == 2 ? find_short(spec, a[1]) : nullptr;
            if (!opt) {
                throw Error(ctx, "unknown option '" + a + "' (see 'krr " + spec.name + " --help')");
            }
        } else {
            out.positional.push_back(a);
            continue;
        }
        std::string value;
        if (!opt->value_name.empty()) {
            if (inline_value) {
                value = *inline_value;
            } else if (i + 1 < args.size()) {
                value = args[++i];
            } else {
                throw Error(ctx, "option '" + shown + "' needs a value (" + opt->value_name + ")");
            }
        } else if (inline_value) {
            throw Error(ctx, "option '" + shown + "' takes no value");
        }
        auto& slot = out.values[opt->name];
        if (!slot.empty() && !opt->repeatable) {
            throw Error(ctx, "option '--" + opt->name + "' given more than once");
        }
        slot.push_back(value);
    }
    if (out.positional.size() < spec.min_positional) {
        throw Error(ctx, "missing argument (usage: krr " + spec.name + " " + spec.usage + ")");
    }
    if (out.positional.size() > spec.max_positional) {
        throw Error(ctx, "unexpected argument '" + out.positional[spec.max_positional] +
                             "' (usage: krr " + spec.name + " " + spec.usage + ")");
    }
    if (spec.requires_command && out.command.empty()) {
        throw Error(ctx, "no guest command given (usage: krr " + spec.name + " " + spec.usage +
                             ")");
    }
    return out;
}

std::string command_help(const CommandSpec& spec) {
    std::ostringstream o;
    o << "usage: krr " << spec.name << " " << spec.usage << "\n\n" << spec.summary << "\n";
    if (!spec.description.empty()) {
        o << "\n" << spec.description << "\n";
    }
    if (!spec.options.empty()) {
        o << "\noptions:\n";
        for (const auto& opt : spec.options) {
            std::string left = "  ";
            if (opt.short_name) {
                left += std::string("-") + opt.short_name + ", ";
            }
            left += "--" + opt.name;
            if (!opt.value_name.empty()) {
                left += " " + opt.value_name;
            }
            if (left.size() < 28) {
                left.resize(28, ' ');
            } else {
                left += "\n" + std::string(28, ' ');
            }
            o << left << opt.help << (opt.repeatable ? " (repeatable)" : "") << "\n";
        }
    }
    o << "  -h, --help                show this help\n";
    return o.str();
}

std::vector<OptionSpec> machine_options() {
    return {
        {"accel", 0, "tcg|kvm", "accelerator: krr's emulator (tcg, default) or KVM"},
        {"kernel", 0, "PATH", "guest kernel bzImage (default: the set-up cache's Debian kernel)"},
        {"initrd", 0, "PATH", "use this initramfs instead of building one"},
        {"append", 0, "ARGS", "extra kernel command-line arguments"},
        {"mem", 0, "SIZE", "guest RAM, e.g. 256M (default 256M)"},
        {"smp", 0, "N", "number of vCPUs (default 1)"},
        {"file", 0, "HOST[:GUEST]", "copy a host file into the guest (default: /BASENAME)", true},
        {"module", 0, "NAME|PATH", "load this kernel module in the guest before CMD", true},
    };
}

} // namespace krr::cli
