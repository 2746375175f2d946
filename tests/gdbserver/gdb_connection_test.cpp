#include "gdbserver/gdb_connection.h"
#include "gdbserver/x86_64_target.h"
#include "guest-model/error.h"
#include "tests/gdbserver/gdb_batch.h"

#include <arpa/inet.h>
#include <atomic>
#include <doctest/doctest.h>
#include <map>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace krr;
using namespace krr::gdb;

namespace {

// A target that never moves: fixed registers, four bytes of memory at
// 0x1000 and zeros elsewhere. It answers the requests gdb 13 sends when it
// connects, reads and detaches.
class FixedTarget : public RequestHandler {
public:
    FixedTarget() {
        cpu.rip = 0x401000;
        cpu.gpr[RSP] = 0x7fff0000;
        cpu.cr3 = 0x1234000;
        cpu.seg[FS].base = 0x7f0000001000ULL;
        memory = {{0x1000, 0xde}, {0x1001, 0xad}, {0x1002, 0xbe}, {0x1003, 0xef}};
    }

    Reply handle(const GdbRequest& request) override {
        seen.push_back(request);
        if (auto* q = std::get_if<QuerySupported>(&request)) {
            for (const GdbFeature& f : q->features) {
                if (f.name == "multiprocess" && f.value == "+") {
                    multiprocess = true;
                }
            }
            return supported_reply(kMaxPacketSize, multiprocess);
        }
        if (auto* x = std::get_if<ReadFeatureDocument>(&request)) {
            if (x->annex != "target.xml") {
                return error_reply(0);
            }
            return xfer_reply(target_description_xml(), x->offset, x->length);
        }
        if (std::holds_alternative<QueryStopReason>(request)) {
            StopReply s;
            s.thread = ThreadId{true, 1, 1};
            s.multiprocess = multiprocess;
            return stop_reply(s);
        }
        if (std::holds_alternative<QueryThreadListStart>(request)) {
            return Reply{"m" + format_thread_id(ThreadId{true, 1, 1}, multiprocess)};
        }
        if (std::holds_alternative<QueryThreadListNext>(request)) {
            return Reply{"l"};
        }
        if (std::holds_alternative<QueryCurrentThread>(request)) {
            return Reply{"QC" + format_thread_id(ThreadId{true, 1, 1}, multiprocess)};
        }
        if (std::holds_alternative<QueryAttached>(request)) {
            return Reply{"1"};
        }
        if (std::holds_alternative<SetThread>(request) ||
            std::holds_alternative<QuerySymbol>(request)) {
            return ok_reply();
        }
        if (std::holds_alternative<ReadRegisters>(request)) {
            return hex_reply(encode_register_image(cpu));
        }
        if (auto* p = std::get_if<ReadRegister>(&request)) {
            try {
                return hex_reply(read_register(cpu, p->number));
            } catch (const Error&) {
                return error_reply(1);
            }
        }
        if (auto* p = std::get_if<WriteRegister>(&request)) {
            try {
                write_register(cpu, p->number, p->value);
                return ok_reply();
            } catch (const Error&) {
                return error_reply(1);
            }
        }
        if (auto* m = std::get_if<ReadMemory>(&request)) {
            std::vector<uint8_t> bytes;
            for (uint64_t i = 0; i < m->length && i < kMaxPacketSize / 2; ++i) {
                auto it = memory.find(m->address + i);
                bytes.push_back(it == memory.end() ? 0 : it->second);
            }
            return hex_reply(bytes);
        }
        if (auto* w = std::get_if<WriteMemory>(&request)) {
            for (size_t i = 0; i < w->data.size(); ++i) {
                memory[w->address + i] = w->data[i];
            }
            return ok_reply();
        }
        if (std::holds_alternative<Detach>(request)) {
            Reply r = ok_reply();
            r.end_session = true;
            return r;
        }
        if (auto* k = std::get_if<Kill>(&request)) {
            Reply r = k->pid ? ok_reply() : Reply{};
            r.silent = !k->pid;
            r.end_session = true;
            return r;
        }
        if (std::holds_alternative<InsertBreakpoint>(request) ||
            std::holds_alternative<RemoveBreakpoint>(request)) {
            return ok_reply();
        }
        if (std::holds_alternative<QueryResumeActions>(request)) {
            return resume_actions_reply();
        }
        if (auto* r = std::get_if<Resume>(&request)) {
            return resume(!r->actions.empty() && r->actions[0].kind == ResumeAction::Kind::Step);
        }
        if (std::holds_alternative<Step>(request) || std::holds_alternative<Continue>(request)) {
            return resume(std::holds_alternative<Step>(request));
        }
        if (std::holds_alternative<ReverseStep>(request) ||
            std::holds_alternative<ReverseContinue>(request)) {
            return stop(StopCause::ReplayBegin, 0);
        }
        if (auto* m = std::get_if<MonitorCommand>(&request)) {
            return hex_text_reply("monitor heard '" + m->command + "'\n");
        }
        if (std::holds_alternative<QueryThreadExtraInfo>(request)) {
            return hex_text_reply("vCPU 0");
        }
        if (std::holds_alternative<MalformedRequest>(request)) {
            return error_reply(1);
        }
        if (std::holds_alternative<Interrupt>(request)) {
            StopReply s;
            s.signal = 2;
            s.multiprocess = multiprocess;
            return stop_reply(s);
        }
        return empty_reply();
    }

    // A step advances rip by one; the first continue writes 0x11 to 0x1000
    // and stops there as a write watchpoint; the next reaches the end.
    Reply resume(bool step) {
        if (step) {
            cpu.rip += 1;
            return stop(StopCause::Signal, 0);
        }
        if (memory[0x1000] != 0x11) {
            memory[0x1000] = 0x11;
            return stop(StopCause::WriteWatchpoint, 0x1000);
        }
        return stop(StopCause::ReplayEnd, 0);
    }

    Reply stop(StopCause cause, uint64_t address) {
        StopReply s;
        s.cause = cause;
        s.address = address;
        s.thread = ThreadId{true, 1, 1};
        s.multiprocess = multiprocess;
        return stop_reply(s);
    }

    CpuState cpu;
    std::map<uint64_t, uint8_t> memory;
    bool multiprocess = false;
    std::vector<GdbRequest> seen;
};

int connect_to(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
    return fd;
}

void send_text(int fd, std::string_view text) {
    REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(text.size()));
}

// Reads until `expected` bytes arrived or two seconds passed.
std::string receive(int fd, size_t expected) {
    std::string out;
    while (out.size() < expected) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) <= 0) {
            break;
        }
        char buffer[4096];
        const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
        if (n <= 0) {
            break;
        }
        out.append(buffer, static_cast<size_t>(n));
    }
    return out;
}

// Runs serve() on a thread over one accepted connection.
struct ServerThread {
    explicit ServerThread(FixedTarget& target) : listener(ListenAddress{"127.0.0.1", 0}) {
        thread = std::thread([this, &target] {
            try {
                GdbConnection connection(listener.accept_connection());
                end = connection.serve(target);
            } catch (const Error& e) {
                error = e.what();
            }
            done = true;
        });
    }
    ~ServerThread() { finish(); }

    void finish() {
        if (!thread.joinable()) {
            return;
        }
        if (!done) {
            // Unblock accept() if the client never came; a client that has
            // gone has already ended serve().
            ::close(connect_to(listener.port()));
        }
        thread.join();
    }

    GdbListener listener;
    std::thread thread;
    std::atomic<bool> done{false};
    GdbConnection::End end = GdbConnection::End::PeerClosed;
    std::string error;
};

} // namespace

TEST_CASE("listen addresses") {
    CHECK(parse_listen_address("127.0.0.1:1234") == ListenAddress{"127.0.0.1", 1234});
    CHECK(parse_listen_address(":2000") == ListenAddress{"127.0.0.1", 2000});
    CHECK(parse_listen_address("2001") == ListenAddress{"127.0.0.1", 2001});
    CHECK(parse_listen_address("localhost:0") == ListenAddress{"127.0.0.1", 0});
    CHECK(parse_listen_address("0.0.0.0:65535") == ListenAddress{"0.0.0.0", 65535});
    CHECK(parse_listen_address("[::1]:1234") == ListenAddress{"::1", 1234});
    for (const char* bad :
         {"", ":", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:12a",
          "example.com:1234", "1.2.3:1", "[::1:1234", "[zz]:1", "::1:1234", "127.0.0.1:123456"}) {
        CHECK_THROWS_AS_MESSAGE(parse_listen_address(bad), Error, bad);
    }
}

TEST_CASE("a listener on a port in use is an error") {
    GdbListener first(ListenAddress{"127.0.0.1", 0});
    CHECK_THROWS_AS(GdbListener(ListenAddress{"127.0.0.1", first.port()}), Error);
}

TEST_CASE("the connection acknowledges, NAKs, retransmits and leaves ack mode") {
    FixedTarget target;
    {
        ServerThread server(target);
        const int fd = connect_to(server.listener.port());

        send_text(fd, "$qC#b4");
        CHECK(receive(fd, sizeof("+$QC1#c5") - 1) == "+$QC1#c5");
        send_text(fd, "-"); // gdb did not get it: the same packet again
        CHECK(receive(fd, sizeof("$QC1#c5") - 1) == "$QC1#c5");
        send_text(fd, "$qC#00");
        CHECK(receive(fd, sizeof("-") - 1) == "-");
        send_text(fd, "noise\x03");
        CHECK(receive(fd, sizeof("$T02#b6") - 1) == "$T02#b6");
        send_text(fd, "$m1000,4#8e");
        CHECK(receive(fd, sizeof("+$deadbeef#20") - 1) == "+$deadbeef#20");
        send_text(fd, "$m10#ce");
        CHECK(receive(fd, sizeof("+$E01#a6") - 1) == "+$E01#a6");
        // '}' and '#' travel escaped.
        send_text(fd, "$X1000,2:}]}\x03#0b");
        CHECK(receive(fd, sizeof("+$OK#9a") - 1) == "+$OK#9a");
        send_text(fd, "$" + std::string(kMaxPacketSize + 10, 'a') + "#00");
        CHECK(receive(fd, sizeof("-") - 1) == "-"); // the sum of the 'a's is not 00
        send_text(fd, "$QStartNoAckMode#b0");
        CHECK(receive(fd, sizeof("+$OK#9a") - 1) == "+$OK#9a");
        // From here on nothing is acknowledged, not even damage.
        send_text(fd, "$m1000,2#8c");
        CHECK(receive(fd, sizeof("$7d23#00") - 1) == "$7d23#00"); // what the X packet wrote
        send_text(fd, "$g#00+-");
        send_text(fd, "$D#44");
        CHECK(receive(fd, sizeof("$OK#9a") - 1) == "$OK#9a");
        CHECK(receive(fd, 1).empty()); // the server closed after detaching
        ::close(fd);
    }
    CHECK(target.memory.at(0x1000) == 0x7d);
    CHECK(target.memory.at(0x1001) == 0x23);
}

TEST_CASE("an oversized packet with a good checksum gets an error reply") {
    FixedTarget target;
    ServerThread server(target);
    const int fd = connect_to(server.listener.port());
    // 0x4001 'a's: 0x61 * 0x4001 = 0x186061, so the checksum is 0x61.
    send_text(fd, "$" + std::string(kMaxPacketSize + 1, 'a') + "#61");
    CHECK(receive(fd, sizeof("+$E01#a6") - 1) == "+$E01#a6");
    ::close(fd);
}

TEST_CASE("poll_interrupt sees 0x03 without waiting and keeps packets for serve") {
    GdbListener listener(ListenAddress{"127.0.0.1", 0});
    const int client = connect_to(listener.port());
    GdbConnection connection(listener.accept_connection());
    CHECK_FALSE(connection.poll_interrupt());
    send_text(client, "$qC#b4\x03");
    bool seen = false;
    for (int i = 0; i < 100 && !seen; ++i) {
        seen = connection.poll_interrupt();
        if (!seen) {
            ::usleep(10000);
        }
    }
    CHECK(seen);
    CHECK_FALSE(connection.poll_interrupt());
    ::shutdown(client, SHUT_WR);
    FixedTarget target;
    CHECK(connection.serve(target) == GdbConnection::End::PeerClosed);
    REQUIRE(target.seen.size() == 2);
    CHECK(std::holds_alternative<QueryCurrentThread>(target.seen[0]));
    CHECK(std::holds_alternative<Interrupt>(target.seen[1]));
    CHECK(receive(client, sizeof("+$QC1#c5$T02#b6") - 1) == "+$QC1#c5$T02#b6");
    ::close(client);
}

TEST_CASE("gdb 13 connects, reads registers and memory, writes a register and detaches") {
    FixedTarget target;
    std::string server_error;
    GdbConnection::End end = GdbConnection::End::PeerClosed;
    testing::GdbRun run;
    {
        ServerThread server(target);
        run = testing::run_gdb_batch({
            "set remotetimeout 5",
            "target remote 127.0.0.1:" + std::to_string(server.listener.port()),
            "info registers rip",
            "x/4xb 0x1000",
            "p/x $cr3",
            "p/x $fs_base",
            "monitor goto 1000",
            "info threads",
            "set $rax = 0x1234",
            "p/x $rax",
            "detach",
        });
        server.finish();
        server_error = server.error;
        end = server.end;
    }
    INFO(run.output);
    CHECK(server_error.empty());
    CHECK(end == GdbConnection::End::SessionEnded);
    CHECK(run.output.find("rip            0x401000            0x401000") != std::string::npos);
    CHECK(run.output.find("0x1000:\t0xde\t0xad\t0xbe\t0xef") != std::string::npos);
    CHECK(run.output.find("$1 = 0x1234000") != std::string::npos);
    CHECK(run.output.find("$2 = 0x7f0000001000") != std::string::npos);
    CHECK(run.output.find("$3 = 0x1234") != std::string::npos);
    CHECK(run.output.find("[Inferior 1 (process 1) detached]") != std::string::npos);
    CHECK(run.output.find("monitor heard 'goto 1000'") != std::string::npos);
    CHECK(run.output.find("Thread 1.1 (vCPU 0)") != std::string::npos);
    CHECK(target.cpu.gpr[RAX] == 0x1234);
    CHECK(target.multiprocess);
    // gdb fetched the description rather than guessing the architecture.
    bool fetched_description = false;
    for (const GdbRequest& r : target.seen) {
        fetched_description |= std::holds_alternative<ReadFeatureDocument>(r);
    }
    CHECK(fetched_description);
}

TEST_CASE("gdb 13 kills with vKill and the session ends") {
    FixedTarget target;
    testing::GdbRun run;
    GdbConnection::End end = GdbConnection::End::PeerClosed;
    {
        ServerThread server(target);
        run = testing::run_gdb_batch({
            "set remotetimeout 5",
            "target remote 127.0.0.1:" + std::to_string(server.listener.port()),
            "kill",
        });
        server.finish();
        end = server.end;
    }
    INFO(run.output);
    CHECK(end == GdbConnection::End::SessionEnded);
    CHECK(run.output.find("[Inferior 1 (process 1) killed]") != std::string::npos);
    REQUIRE_FALSE(target.seen.empty());
    CHECK(target.seen.back() == GdbRequest{Kill{1}});
}

TEST_CASE("gdb 13 steps, reverse-steps and continues to a watchpoint with krr's stop replies") {
    FixedTarget target;
    testing::GdbRun run;
    {
        ServerThread server(target);
        run = testing::run_gdb_batch({
            "set remotetimeout 5",
            "target remote 127.0.0.1:" + std::to_string(server.listener.port()),
            "stepi",
            "reverse-stepi",
            "watch *(unsigned char*)0x1000",
            "continue",
            "continue",
            "detach",
        });
        server.finish();
    }
    INFO(run.output);
    CHECK(run.output.find("0x0000000000401001 in ?? ()") != std::string::npos);
    // replaylog:begin and replaylog:end both read as the edge of the history.
    const size_t first_edge = run.output.find("No more reverse-execution history.");
    CHECK(first_edge != std::string::npos);
    CHECK(run.output.find("No more reverse-execution history.", first_edge + 1) !=
          std::string::npos);
    CHECK(run.output.find("Hardware watchpoint 1: *(unsigned char*)0x1000") != std::string::npos);
    CHECK(run.output.find("Old value = 222 '\\336'") != std::string::npos);
    CHECK(run.output.find("New value = 17 '\\021'") != std::string::npos);
    bool reverse_step_sent = false;
    bool watchpoint_inserted = false;
    for (const GdbRequest& r : target.seen) {
        reverse_step_sent |= std::holds_alternative<ReverseStep>(r);
        if (auto* z = std::get_if<InsertBreakpoint>(&r)) {
            watchpoint_inserted |=
                *z == InsertBreakpoint{BreakpointType::WriteWatchpoint, 0x1000, 1};
        }
    }
    CHECK(reverse_step_sent);
    CHECK(watchpoint_inserted);
}
