// The machine's diagnostic log: what the devices noticed that a user
// debugging a boot may want to know (an unknown port, a command a model does
// not implement). Messages below the chosen level cost one comparison.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>

namespace krr {

enum class LogLevel : uint8_t { Error, Warning, Info, Debug };

std::string_view log_level_name(LogLevel level);

// "0x3f8": how addresses, ports and values appear in log and error messages.
std::string hex(uint64_t value);

class Log {
public:
    using Sink = std::function<void(LogLevel, std::string_view)>;

    // Without a sink, messages go to stderr as "krr: <level>: <message>".
    explicit Log(LogLevel level = LogLevel::Warning, Sink sink = {});

    void set_level(LogLevel level) { level_ = level; }
    LogLevel level() const { return level_; }
    bool enabled(LogLevel level) const { return level <= level_; }

    void write(LogLevel level, std::string_view message);
    // Logs `message` the first time `key` is seen, so a guest polling an
    // absent device does not flood the log.
    void write_once(LogLevel level, uint64_t key, std::string_view message);

private:
    LogLevel level_;
    Sink sink_;
    std::set<uint64_t> seen_;
};

} // namespace krr
