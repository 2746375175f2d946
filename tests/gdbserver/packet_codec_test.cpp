#include "gdbserver/packet_codec.h"
#include "guest-model/error.h"

#include <cstdio>
#include <doctest/doctest.h>

using namespace krr::gdb;
using Kind = DecoderEvent::Kind;

namespace {

DecoderEvent packet(std::string payload) {
    return {Kind::Packet, std::move(payload)};
}

// Frames wire bytes as given (no escaping), with a checksum summed here
// rather than by the code under test.
std::string frame_raw(const std::string& wire) {
    unsigned sum = 0;
    for (unsigned char c : wire) {
        sum += c;
    }
    char digits[3];
    std::snprintf(digits, sizeof(digits), "%02x", sum & 0xff);
    return "$" + wire + "#" + digits;
}

} // namespace

TEST_CASE("checksums and framing follow the protocol's examples") {
    // The checksum of "OK" is 0x4f + 0x4b = 0x9a.
    CHECK(packet_checksum("OK") == 0x9a);
    CHECK(frame_packet("OK") == "$OK#9a");
    CHECK(frame_packet("") == "$#00");
    CHECK(frame_packet("vMustReplyEmpty") == "$vMustReplyEmpty#3a");
}

TEST_CASE("the four special bytes are escaped as } and the byte XOR 0x20") {
    CHECK(escape_payload("#") == "}\x03");
    CHECK(escape_payload("$") == "}\x04");
    CHECK(escape_payload("}") == "}]");
    CHECK(escape_payload("*") == "}\x0a");
    CHECK(escape_payload("a#b") == "a}\x03"
                                   "b");
    // The checksum covers the escaped bytes as sent.
    const std::string framed = frame_packet("*");
    CHECK(framed == "$}\x0a#87");
}

TEST_CASE("every byte value survives framing and decoding") {
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all.push_back(static_cast<char>(i));
    }
    PacketDecoder d;
    auto events = d.feed(frame_packet(all));
    REQUIRE(events.size() == 1);
    CHECK(events[0] == packet(all));
}

TEST_CASE("run-length input is expanded") {
    // From gdb's manual: "0* " means "0000" (a space is 32 - 29 = 3 repeats).
    CHECK(decode_wire_payload("0* ") == "0000");
    CHECK(decode_wire_payload("X*\"") == "XXXXXX"); // '"' = 34: five more
    CHECK(decode_wire_payload("ab*~") == "a" + std::string(98, 'b'));
    // A run repeats the decoded byte, also after an escape.
    CHECK(decode_wire_payload("}]* ") == "}}}}");
    PacketDecoder d;
    auto events = d.feed(frame_raw("m0* ,4"));
    REQUIRE(events.size() == 1);
    CHECK(events[0] == packet("m0000,4"));
}

TEST_CASE("bad escapes and run lengths are errors, not crashes") {
    CHECK_THROWS_AS(decode_wire_payload("abc}"), krr::Error);
    CHECK_THROWS_AS(decode_wire_payload("* "), krr::Error);
    CHECK_THROWS_AS(decode_wire_payload("a*"), krr::Error);
    CHECK_THROWS_AS(decode_wire_payload("a*\x1f"), krr::Error);
    CHECK_THROWS_AS(decode_wire_payload("a*\x7f"), krr::Error);
    CHECK_THROWS_AS(decode_wire_payload("a*~", 50), krr::Error);
    auto events = PacketDecoder().feed(std::string("$a}#de")); // 0x61 + 0x7d
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == Kind::MalformedPacket);
    CHECK(events[0].payload.find("escape") != std::string::npos);
}

TEST_CASE("acks, naks, interrupts and noise between packets") {
    PacketDecoder d;
    auto events = d.feed(std::string("+-\x03junk\r\n") + "$g#67+");
    REQUIRE(events.size() == 5);
    CHECK(events[0].kind == Kind::Ack);
    CHECK(events[1].kind == Kind::Nak);
    CHECK(events[2].kind == Kind::Interrupt);
    CHECK(events[3] == packet("g"));
    CHECK(events[4].kind == Kind::Ack);
}

TEST_CASE("0x03, + and - inside a packet are data") {
    PacketDecoder d;
    const std::string payload = std::string("X0,3:\x03+-");
    auto events = d.feed(frame_packet(payload));
    REQUIRE(events.size() == 1);
    CHECK(events[0] == packet(payload));
}

TEST_CASE("a packet split at every byte boundary decodes once") {
    const std::string framed = frame_packet("qSupported:multiprocess+;swbreak+");
    for (size_t cut = 0; cut <= framed.size(); ++cut) {
        PacketDecoder d;
        auto first = d.feed(framed.substr(0, cut));
        auto second = d.feed(framed.substr(cut));
        CHECK(first.size() + second.size() == 1);
        auto& all = first.empty() ? second : first;
        REQUIRE(all.size() == 1);
        CHECK(all[0] == packet("qSupported:multiprocess+;swbreak+"));
        CHECK_FALSE(d.inside_packet());
    }
}

TEST_CASE("several packets in one chunk come out in order") {
    PacketDecoder d;
    auto events = d.feed(frame_packet("Hg0") + "+" + frame_packet("?") + frame_packet("g"));
    REQUIRE(events.size() == 4);
    CHECK(events[0] == packet("Hg0"));
    CHECK(events[1].kind == Kind::Ack);
    CHECK(events[2] == packet("?"));
    CHECK(events[3] == packet("g"));
}

TEST_CASE("checksum errors") {
    PacketDecoder d;
    SUBCASE("wrong sum") {
        auto events = d.feed("$g#68");
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == Kind::BadChecksum);
    }
    SUBCASE("non-hex checksum digits") {
        auto events = d.feed("$g#6z$g#67");
        REQUIRE(events.size() == 2);
        CHECK(events[0].kind == Kind::BadChecksum);
        CHECK(events[1] == packet("g"));
    }
    SUBCASE("a new packet start inside a packet drops the cut-off one") {
        auto events = d.feed("$m10$g#67");
        REQUIRE(events.size() == 2);
        CHECK(events[0].kind == Kind::BadChecksum);
        CHECK(events[1] == packet("g"));
    }
    SUBCASE("upper-case checksum digits are accepted") {
        auto events = d.feed("$OK#9A");
        REQUIRE(events.size() == 1);
        CHECK(events[0] == packet("OK"));
    }
}

TEST_CASE("oversized packets are refused without growing without bound") {
    PacketDecoder d(64);
    const std::string big(1000, 'a');
    auto events = d.feed(frame_packet(big));
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == Kind::MalformedPacket);
    CHECK(events[0].payload.find("longer than 64") != std::string::npos);
    // The decoder is usable afterwards.
    events = d.feed(frame_packet("g"));
    REQUIRE(events.size() == 1);
    CHECK(events[0] == packet("g"));
    // Run-length expansion past the limit is refused too.
    events = d.feed(frame_raw("a*~"));
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == Kind::MalformedPacket);
    // Exactly the limit is fine.
    events = d.feed(frame_packet(std::string(64, 'b')));
    REQUIRE(events.size() == 1);
    CHECK(events[0] == packet(std::string(64, 'b')));
}
