// Framing of the GDB remote serial protocol: `$payload#cs` packets, the `+`/`-`
// acknowledgements and the interrupt byte. The decoder is incremental and
// distrustful: it is fed whatever the socket returned, keeps a bounded amount
// of state, and turns every byte sequence into events, never an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace krr::gdb {

// The largest packet payload the server accepts, announced to gdb as
// PacketSize in the qSupported reply. Bigger input is refused, not buffered.
inline constexpr size_t kMaxPacketSize = 0x4000;

inline constexpr uint8_t kInterruptByte = 0x03;

// The modulo-256 sum of the bytes as they travel between `$` and `#`.
uint8_t packet_checksum(std::string_view wire_payload);

// Escapes `#`, `$`, `}` and `*` as `}` followed by the byte XOR 0x20, so any
// byte, binary ones included, survives framing and run-length decoding.
std::string escape_payload(std::string_view payload);

// `$<escaped payload>#<two lower-case hex digits>`.
std::string frame_packet(std::string_view payload);

struct DecoderEvent {
    enum class Kind {
        Packet,          // a whole packet with a good checksum: `payload` holds it, decoded
        Ack,             // `+`
        Nak,             // `-`: the peer wants the last packet again
        Interrupt,       // 0x03 outside a packet
        BadChecksum,     // the frame arrived damaged; answer with `-`
        MalformedPacket, // the checksum matched but the contents cannot be decoded
                         // (bad escape or run length, too large): `payload` says why
    };
    Kind kind;
    std::string payload;

    bool operator==(const DecoderEvent&) const = default;
};

class PacketDecoder {
public:
    explicit PacketDecoder(size_t max_packet_size = kMaxPacketSize)
        : max_packet_size_(max_packet_size) {}

    // Consumes every byte; returns the events completed by them, in order.
    std::vector<DecoderEvent> feed(std::span<const uint8_t> bytes);
    std::vector<DecoderEvent> feed(std::string_view bytes);

    // True while part of a packet has been seen but not its end.
    bool inside_packet() const { return state_ != State::Idle; }

private:
    enum class State { Idle, Payload, Checksum1, Checksum2 };
    void finish_packet(uint8_t received_checksum, std::vector<DecoderEvent>& events);

    size_t max_packet_size_;
    State state_ = State::Idle;
    std::string wire_;       // the bytes between `$` and `#`, as sent
    bool oversized_ = false; // wire_ stopped growing at the limit
    uint8_t running_sum_ = 0;
    uint8_t checksum_high_ = 0;
};

// Undoes `}` escapes and `*` run-length encoding of a payload as it was sent.
// Throws krr::Error on a dangling escape, a run with nothing to repeat or a
// bad run count, or a result longer than `max_size`.
std::string decode_wire_payload(std::string_view wire, size_t max_size = kMaxPacketSize);

} // namespace krr::gdb
