// A gdb session over TCP: the listener, and a connection that reads bytes,
// feeds the packet decoder, acknowledges, hands each request to a handler and
// sends its reply. It knows the protocol's mechanics (acks, no-ack mode,
// retransmission) and nothing of what requests mean.
#pragma once

#include "gdbserver/gdb_reply.h"
#include "gdbserver/gdb_request.h"
#include "gdbserver/packet_codec.h"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace krr::gdb {

// Where to listen. Loopback unless the user names another address.
struct ListenAddress {
    std::string host = "127.0.0.1";
    uint16_t port = 1234;

    bool operator==(const ListenAddress&) const = default;
};

// `HOST:PORT`, `:PORT` or `PORT`; HOST is an IPv4 address, `localhost`, or
// an IPv6 address in brackets. Throws krr::Error on anything else.
ListenAddress parse_listen_address(std::string_view text);

class RequestHandler {
public:
    virtual ~RequestHandler() = default;
    // Called for every request except QStartNoAckMode, which the connection
    // answers itself; MalformedRequest and UnknownRequest arrive too so the
    // server can log them (error_reply / empty_reply are the usual answers).
    virtual Reply handle(const GdbRequest& request) = 0;
};

class GdbConnection {
public:
    // Takes ownership of a connected socket.
    explicit GdbConnection(int fd);
    ~GdbConnection();
    GdbConnection(const GdbConnection&) = delete;
    GdbConnection& operator=(const GdbConnection&) = delete;

    enum class End { PeerClosed, SessionEnded };

    // Serves requests until gdb closes the connection or a reply ends the
    // session. Throws krr::Error on a socket error.
    End serve(RequestHandler& handler);

    // For a handler busy with a long run: reads what has arrived without
    // waiting and says whether gdb sent the interrupt byte. Packets that
    // arrived meanwhile are kept for serve().
    bool poll_interrupt();

    bool ack_mode() const { return ack_mode_; }

private:
    // False on end of file.
    bool read_some(bool wait);
    void send_bytes(std::string_view bytes);
    void send_reply(const Reply& reply);

    int fd_;
    PacketDecoder decoder_;
    std::deque<DecoderEvent> pending_;
    bool ack_mode_ = true;
    bool interrupt_seen_ = false;
    std::string last_packet_; // for retransmission on `-`
};

class GdbListener {
public:
    explicit GdbListener(const ListenAddress& address);
    ~GdbListener();
    GdbListener(const GdbListener&) = delete;
    GdbListener& operator=(const GdbListener&) = delete;

    // The port actually bound (useful when asked for port 0).
    uint16_t port() const { return port_; }
    // Waits for gdb; returns the connected socket for GdbConnection.
    int accept_connection();

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

} // namespace krr::gdb
