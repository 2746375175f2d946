#include "recorder/machine/log.h"

#include <cstdio>

namespace krr {

std::string_view log_level_name(LogLevel level) {
    switch (level) {
    case LogLevel::Error:
        return "error";
    case LogLevel::Warning:
        return "warning";
    case LogLevel::Info:
        return "info";
    case LogLevel::Debug:
        return "debug";
    }
    return "?";
}

std::string hex(uint64_t value) {
    char text[24];
    std::snprintf(text, sizeof text, "%#llx", static_cast<unsigned long long>(value));
    return text;
}

Log::Log(LogLevel level, Sink sink) : level_(level), sink_(std::move(sink)) {}

void Log::write(LogLevel level, std::string_view message) {
    if (!enabled(level))
        return;
    if (sink_) {
        sink_(level, message);
        return;
    }
    std::string_view name = log_level_name(level);
    std::fprintf(stderr, "krr: %.*s: %.*s\n", int(name.size()), name.data(), int(message.size()),
                 message.data());
}

void Log::write_once(LogLevel level, uint64_t key, std::string_view message) {
    if (!enabled(level))
        return;
    if (!seen_.insert(key).second)
        return;
    write(level, message);
}

} // namespace krr
