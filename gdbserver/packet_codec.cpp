#include "gdbserver/packet_codec.h"

#include "guest-model/error.h"

namespace krr::gdb {

namespace {

constexpr uint8_t kEscape = '}';
constexpr uint8_t kRunLength = '*';
// A run count character encodes count + 29 repeats; the lowest printable
// character gdb uses is a space (three repeats), the highest is `~`.
constexpr int kRunLengthBias = 29;

bool needs_escape(uint8_t c) {
    return c == '#' || c == '$' || c == kEscape || c == kRunLength;
}

int hex_digit_value(uint8_t c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

} // namespace

uint8_t packet_checksum(std::string_view wire_payload) {
    uint8_t sum = 0;
    for (char c : wire_payload) {
        sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
    }
    return sum;
}

std::string escape_payload(std::string_view payload) {
    std::string out;
    out.reserve(payload.size());
    for (char c : payload) {
        const auto b = static_cast<uint8_t>(c);
        if (needs_escape(b)) {
            out.push_back(static_cast<char>(kEscape));
            out.push_back(static_cast<char>(b ^ 0x20));
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string frame_packet(std::string_view payload) {
    static constexpr char kHex[] = "0123456789abcdef";
    const std::string wire = escape_payload(payload);
    const uint8_t sum = packet_checksum(wire);
    std::string out;
    out.reserve(wire.size() + 4);
    out.push_back('$');
    out += wire;
    out.push_back('#');
    out.push_back(kHex[sum >> 4]);
    out.push_back(kHex[sum & 0xf]);
    return out;
}

std::string decode_wire_payload(std::string_view wire, size_t max_size) {
    std::string out;
    for (size_t i = 0; i < wire.size(); ++i) {
        const auto c = static_cast<uint8_t>(wire[i]);
        if (c == kEscape) {
            if (i + 1 == wire.size()) {
                throw Error("gdb packet", "escape character at the end of the packet");
            }
            out.push_back(static_cast<char>(static_cast<uint8_t>(wire[++i]) ^ 0x20));
        } else if (c == kRunLength) {
            if (out.empty()) {
                throw Error("gdb packet", "run-length marker with nothing to repeat");
            }
            if (i + 1 == wire.size()) {
                throw Error("gdb packet", "run-length marker at the end of the packet");
            }
            const int count = static_cast<uint8_t>(wire[++i]) - kRunLengthBias;
            if (count < 3 || count > '~' - kRunLengthBias) {
                throw Error("gdb packet", "run-length count out of range");
            }
            if (out.size() + static_cast<size_t>(count) > max_size) {
                throw Error("gdb packet", "longer than " + std::to_string(max_size) + " bytes");
            }
            out.append(static_cast<size_t>(count), out.back());
            continue;
        } else {
            out.push_back(static_cast<char>(c));
        }
        if (out.size() > max_size) {
            throw Error("gdb packet", "longer than " + std::to_string(max_size) + " bytes");
        }
    }
    return out;
}

std::vector<DecoderEvent> PacketDecoder::feed(std::string_view bytes) {
    return feed(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

std::vector<DecoderEvent> PacketDecoder::feed(std::span<const uint8_t> bytes) {
    std::vector<DecoderEvent> events;
    for (uint8_t c : bytes) {
        switch (state_) {
        case State::Idle:
            if (c == '$') {
                state_ = State::Payload;
                wire_.clear();
                oversized_ = false;
                running_sum_ = 0;
            } else if (c == '+') {
                events.push_back({DecoderEvent::Kind::Ack, {}});
            } else if (c == '-') {
                events.push_back({DecoderEvent::Kind::Nak, {}});
            } else if (c == kInterruptByte) {
                events.push_back({DecoderEvent::Kind::Interrupt, {}});
            }
            // Anything else between packets is line noise and is dropped.
            break;
        case State::Payload:
            if (c == '#') {
                state_ = State::Checksum1;
            } else if (c == '$') {
                // A packet start inside a packet: the earlier one was cut
                // short (gdb resends after a timeout). Start over.
                events.push_back({DecoderEvent::Kind::BadChecksum, {}});
                wire_.clear();
                oversized_ = false;
                running_sum_ = 0;
            } else {
                running_sum_ = static_cast<uint8_t>(running_sum_ + c);
                if (wire_.size() < max_packet_size_) {
                    wire_.push_back(static_cast<char>(c));
                } else {
                    oversized_ = true;
                }
            }
            break;
        case State::Checksum1: {
            const int v = hex_digit_value(c);
            if (v < 0) {
                events.push_back({DecoderEvent::Kind::BadChecksum, {}});
                state_ = c == '$' ? State::Payload : State::Idle;
                wire_.clear();
                oversized_ = false;
                running_sum_ = 0;
            } else {
                checksum_high_ = static_cast<uint8_t>(v);
                state_ = State::Checksum2;
            }
            break;
        }
        case State::Checksum2: {
            const int v = hex_digit_value(c);
            state_ = State::Idle;
            if (v < 0) {
                events.push_back({DecoderEvent::Kind::BadChecksum, {}});
                if (c == '$') {
                    state_ = State::Payload;
                    wire_.clear();
                    oversized_ = false;
                    running_sum_ = 0;
                }
            } else {
                finish_packet(static_cast<uint8_t>(checksum_high_ << 4 | v), events);
            }
            break;
        }
        }
    }
    return events;
}

void PacketDecoder::finish_packet(uint8_t received_checksum, std::vector<DecoderEvent>& events) {
    if (received_checksum != running_sum_) {
        events.push_back({DecoderEvent::Kind::BadChecksum, {}});
    } else if (oversized_) {
        events.push_back(
            {DecoderEvent::Kind::MalformedPacket,
             "gdb packet: longer than " + std::to_string(max_packet_size_) + " bytes"});
    } else {
        try {
            events.push_back(
                {DecoderEvent::Kind::Packet, decode_wire_payload(wire_, max_packet_size_)});
        } catch (const Error& e) {
            events.push_back({DecoderEvent::Kind::MalformedPacket, e.what()});
        }
    }
    wire_.clear();
}

} // namespace krr::gdb
