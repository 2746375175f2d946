#include "guest-model/trace/json_writer.h"

#include "guest-model/error.h"

#include <cstdio>

namespace krr {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one
// (overlong forms, surrogates and values past U+10FFFF included).
size_t utf8_sequence_length(std::string_view s, size_t i) {
    auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    uint8_t b0 = byte(i);
    size_t n;
    uint32_t cp;
    if (b0 < 0x80) {
        return 1;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
        n = 2;
        cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        n = 3;
        cp = b0 & 0x0f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        n = 4;
        cp = b0 & 0x07;
    } else {
        return 0;
    }
    if (s.size() - i < n) {
        return 0;
    }
    for (size_t k = 1; k < n; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return n;
}

} // namespace

std::string json_quote(std::string_view s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        switch (c) {
        case '"':
            out += "\\\"";
            ++i;
            continue;
        case '\\':
            out += "\\\\";
            ++i;
            continue;
        case '\n':
            out += "\\n";
            ++i;
            continue;
        case '\r':
            out += "\\r";
            ++i;
            continue;
        case '\t':
            out += "\\t";
            ++i;
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
            ++i;
            continue;
        }
        size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += "\\ufffd";
            ++i;
            continue;
        }
        out.append(s.substr(i, n));
        i += n;
    }
    out += '"';
    return out;
}

void JsonWriter::newline() {
    out_ += '\n';
    out_.append(is_object_.size() * 2, ' ');
}

void JsonWriter::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!is_object_.empty()) {
        if (is_object_.back()) {
            throw Error("writing JSON", "an object member needs a key");
        }
        if (!first_.back()) {
            out_ += ',';
        }
        first_.back() = false;
        newline();
    } else if (!out_.empty()) {
        throw Error("writing JSON", "a document has one top-level value");
    }
}

void JsonWriter::key(std::string_view name) {
    if (is_object_.empty() || !is_object_.back() || after_key_) {
        throw Error("writing JSON", "a key outside an object");
    }
    if (!first_.back()) {
        out_ += ',';
    }
    first_.back() = false;
    newline();
    out_ += json_quote(name);
    out_ += ": ";
    after_key_ = true;
}

void JsonWriter::begin_object() {
    before_value();
    out_ += '{';
    is_object_.push_back(true);
    first_.push_back(true);
}

void JsonWriter::begin_array() {
    before_value();
    out_ += '[';
    is_object_.push_back(false);
    first_.push_back(true);
}

void JsonWriter::end_object() {
    if (is_object_.empty() || !is_object_.back() || after_key_) {
        throw Error("writing JSON", "no object to close");
    }
    bool empty = first_.back();
    is_object_.pop_back();
    first_.pop_back();
    if (!empty) {
        newline();
    }
    out_ += '}';
}

void JsonWriter::end_array() {
    if (is_object_.empty() || is_object_.back()) {
        throw Error("writing JSON", "no array to close");
    }
    bool empty = first_.back();
    is_object_.pop_back();
    first_.pop_back();
    if (!empty) {
        newline();
    }
    out_ += ']';
}

void JsonWriter::value(std::string_view s) {
    before_value();
    out_ += json_quote(s);
}

void JsonWriter::value(uint64_t v) {
    before_value();
    out_ += std::to_string(v);
}

void JsonWriter::value(int64_t v) {
    before_value();
    out_ += std::to_string(v);
}

void JsonWriter::value(bool v) {
    before_value();
    out_ += v ? "true" : "false";
}

void JsonWriter::null() {
    before_value();
    out_ += "null";
}

std::string JsonWriter::text() const {
    if (!is_object_.empty() || after_key_) {
        throw Error("writing JSON", "unclosed object or array");
    }
    return out_ + "\n";
}

} // namespace krr
