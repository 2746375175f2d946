// A small streaming JSON writer for machine-readable command output. Strings
// are escaped per RFC 8259; bytes that are not valid UTF-8 become U+FFFD, so
// the output is always valid JSON whatever a trace holds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace krr {

class JsonWriter {
public:
    void begin_object();
    void end_object();
    void begin_array();
    void end_array();
    // Inside an object, each value is preceded by its key.
    void key(std::string_view name);
    void value(std::string_view s);
    void value(const char* s) { value(std::string_view(s)); }
    void value(uint64_t v);
    void value(int64_t v);
    void value(bool v);
    void null();

    // The document; throws krr::Error when objects or arrays are unclosed.
    std::string text() const;

private:
    void before_value();
    void newline();

    std::string out_;
    // One entry per open container: true for an object. `first_` tracks
    // whether it has had a member yet.
    std::vector<bool> is_object_;
    std::vector<bool> first_;
    bool after_key_ = false;
};

std::string json_quote(std::string_view s);

} // namespace krr
