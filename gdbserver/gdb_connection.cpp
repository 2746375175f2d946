#include "gdbserver/gdb_connection.h"
#include "gdbserver/hex_text.h"

#include "guest-model/error.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace krr::gdb {

namespace {

uint16_t parse_port(std::string_view text, std::string_view whole) {
    if (text.empty() || text.size() > 5) {
        throw Error("listen address '" + std::string(whole) + "'", "port must be 0 to 65535");
    }
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            throw Error("listen address '" + std::string(whole) + "'", "port is not a number");
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) {
        throw Error("listen address '" + std::string(whole) + "'", "port must be 0 to 65535");
    }
    return static_cast<uint16_t>(value);
}

} // namespace

ListenAddress parse_listen_address(std::string_view text) {
    ListenAddress address;
    const std::string what = "listen address '" + std::string(text) + "'";
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        address.port = parse_port(text, text);
        return address;
    }
    std::string_view host = text.substr(0, colon);
    address.port = parse_port(text.substr(colon + 1), text);
    if (host.empty()) {
        return address;
    }
    if (host == "localhost") {
        return address;
    }
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') {
            throw Error(what, "an IPv6 address must be written [ADDRESS]");
        }
        host = host.substr(1, host.size() - 2);
        in6_addr v6{};
        if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
            throw Error(what, "not an IPv6 address");
        }
    } else {
        in_addr v4{};
        if (inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) {
            throw Error(what, "host must be an IPv4 address, localhost or [IPv6]");
        }
    }
    address.host = std::string(host);
    return address;
}

GdbListener::GdbListener(const ListenAddress& address) {
    const std::string what = "listening on " + address.host + ":" + std::to_string(address.port);
    sockaddr_storage storage{};
    socklen_t length = 0;
    const bool v6 = address.host.find(':') != std::string::npos;
    if (v6) {
        auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(address.port);
        if (inet_pton(AF_INET6, address.host.c_str(), &sa->sin6_addr) != 1) {
            throw Error(what, "not an IPv6 address");
        }
        length = sizeof(sockaddr_in6);
    } else {
        auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
        sa->sin_family = AF_INET;
        sa->sin_port = htons(address.port);
        if (inet_pton(AF_INET, address.host.c_str(), &sa->sin_addr) != 1) {
            throw Error(what, "not an IPv4 address");
        }
        length = sizeof(sockaddr_in);
    }
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        throw Error(what, errno_text(errno));
    }
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&storage), length) != 0 || ::listen(fd_, 1) != 0) {
        const int err = errno;
        ::close(fd_);
        throw Error(what, errno_text(err));
    }
    socklen_t bound_length = sizeof(storage);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &bound_length);
    port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

GdbListener::~GdbListener() {
    ::close(fd_);
}

int GdbListener::accept_connection() {
    for (;;) {
        const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            // Replies are small and gdb waits for each: send them at once.
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
        if (errno != EINTR) {
            throw Error("accepting a gdb connection", errno_text(errno));
        }
    }
}

GdbConnection::GdbConnection(int fd) : fd_(fd) {}

GdbConnection::~GdbConnection() {
    ::close(fd_);
}

bool GdbConnection::read_some(bool wait) {
    if (!wait) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) {
            return true;
        }
    }
    uint8_t buffer[4096];
    for (;;) {
        const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
        if (n > 0) {
            for (DecoderEvent& e : decoder_.feed(std::span(buffer, static_cast<size_t>(n)))) {
                if (e.kind == DecoderEvent::Kind::Interrupt) {
                    interrupt_seen_ = true;
                }
                pending_.push_back(std::move(e));
            }
            return true;
        }
        if (n == 0 || errno == ECONNRESET) {
            return false;
        }
        if (errno != EINTR) {
            throw Error("reading from gdb", errno_text(errno));
        }
    }
}

void GdbConnection::send_bytes(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw Error("writing to gdb", errno_text(errno));
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

void GdbConnection::send_reply(const Reply& reply) {
    if (reply.silent) {
        return;
    }
    for (const std::string& text : reply.console_output) {
        send_bytes(frame_packet("O" + encode_hex(std::string_view(text))));
    }
    last_packet_ = frame_packet(reply.payload);
    send_bytes(last_packet_);
}

bool GdbConnection::poll_interrupt() {
    read_some(false);
    const bool seen = interrupt_seen_;
    interrupt_seen_ = false;
    return seen;
}

GdbConnection::End GdbConnection::serve(RequestHandler& handler) {
    for (;;) {
        while (pending_.empty()) {
            if (!read_some(true)) {
                return End::PeerClosed;
            }
        }
        DecoderEvent event = std::move(pending_.front());
        pending_.pop_front();
        Reply reply;
        switch (event.kind) {
        case DecoderEvent::Kind::Ack:
            continue;
        case DecoderEvent::Kind::Nak:
            if (ack_mode_ && !last_packet_.empty()) {
                send_bytes(last_packet_);
            }
            continue;
        case DecoderEvent::Kind::BadChecksum:
            if (ack_mode_) {
                send_bytes("-");
            }
            continue;
        case DecoderEvent::Kind::Interrupt:
            interrupt_seen_ = false;
            reply = handler.handle(Interrupt{});
            break;
        case DecoderEvent::Kind::MalformedPacket:
            if (ack_mode_) {
                send_bytes("+");
            }
            reply = handler.handle(MalformedRequest{{}, event.payload});
            break;
        case DecoderEvent::Kind::Packet: {
            if (ack_mode_) {
                send_bytes("+");
            }
            const GdbRequest request = parse_request(event.payload);
            if (std::holds_alternative<StartNoAckMode>(request)) {
                // The OK still goes out under acknowledgements; gdb switches
                // after it has acknowledged it.
                send_reply(ok_reply());
                ack_mode_ = false;
                continue;
            }
            reply = handler.handle(request);
            break;
        }
        }
        send_reply(reply);
        if (reply.end_session) {
            return End::SessionEnded;
        }
    }
}

} // namespace krr::gdb
