// krr gdbserver TRACE: serve a recording to gdb, with reverse execution.
#include "cli/commands.h"
#include "gdbserver/gdb_connection.h"
#include "gdbserver/gdb_server.h"
#include "guest-model/error.h"
#include "guest-model/symbol_elf.h"
#include "guest-model/symbols.h"
#include "recorder/guest-image/guest_locator.h"
#include "replay-engine/replay/replay_session.h"

#include <cstdio>
#include <filesystem>
#include <unistd.h>

namespace krr::cli {

namespace {

constexpr uint64_t kDefaultCheckpointInterval = 10'000'000;
constexpr uint64_t kDefaultCheckpointMemory = 1ULL << 30;
constexpr uint64_t kSeekProgressStep = 50'000'000;

} // namespace

CommandSpec gdbserver_command() {
    CommandSpec spec;
    spec.name = "gdbserver";
    spec.usage = "TRACE [--listen HOST:PORT] [--at COUNT] [--checkpoint-memory SIZE]";
    spec.summary = "debug a recording with gdb, forward and backward";
    spec.description =
        "Replays TRACE in the emulator and serves it to gdb over the remote protocol, with\n"
        "reverse execution: reverse-stepi, reverse-step, reverse-next, reverse-finish and\n"
        "reverse-continue go back in the recording, breakpoints and watchpoints work both\n"
        "ways, and the ends of the recording are reported as such. The kernel is one\n"
        "process with one thread per vCPU. `monitor help` lists krr's own commands (where\n"
        "am I, go to an instruction count or an input, checkpoints, inputs).\n"
        "Listens on 127.0.0.1:1234 unless told otherwise (port 0 picks a free one) and\n"
        "serves one gdb session. Prints the gdb command to connect with: it loads the\n"
        "kernel's vmlinux when it is beside the kernel (source-level debugging), else a\n"
        "symbol file krr generates from System.map.";
    spec.options = {
        {"listen", 'l', "HOST:PORT", "where to listen (default 127.0.0.1:1234)"},
        {"at", 0, "COUNT", "start at this instruction count instead of the recording's start"},
        {"checkpoint-memory", 0, "SIZE",
         "memory for checkpoints' guest pages (default 1G; K/M/G suffixes)"},
        {"checkpoint-interval", 0, "N",
         "instructions between regular checkpoints (default 10000000)"},
    };
    spec.min_positional = 1;
    spec.max_positional = 1;
    spec.run = [](const ParsedArgs& args) {
        const std::string path = args.positional[0];
        const gdb::ListenAddress address =
            gdb::parse_listen_address(args.get("listen").value_or("127.0.0.1:1234"));
        ReplaySessionOptions options;
        options.checkpoint_interval =
            args.get_u64("checkpoint-interval").value_or(kDefaultCheckpointInterval);
        if (options.checkpoint_interval < 1000) {
            throw Error("--checkpoint-interval", "must be at least 1000 instructions");
        }
        options.checkpoint_memory =
            args.get_u64("checkpoint-memory", true).value_or(kDefaultCheckpointMemory);
        if (options.checkpoint_memory < (16ULL << 20)) {
            throw Error("--checkpoint-memory", "must be at least 16M");
        }
        ReplaySession session(path, options);

        namespace fs = std::filesystem;
        const fs::path kernel_dir = fs::path(session.metadata().kernel.path).parent_path();
        std::optional<SymbolTable> symbols;
        std::string symbol_file;
        const fs::path map = kernel_dir / "System.map";
        try {
            symbols = SymbolTable::load(map.string());
            symbol_file = symbol_elf_for(map.string(), guest_cache_dir() + "/symbols");
        } catch (const Error& e) {
            std::fprintf(stderr, "krr: gdbserver: no kernel symbols: %s\n", e.what());
        }
        std::error_code ec;
        const fs::path vmlinux = kernel_dir / "vmlinux";
        const bool have_vmlinux = fs::is_regular_file(vmlinux, ec);

        if (auto at = args.get_u64("at")) {
            if (*at < session.start_instruction() || *at > session.end_instruction()) {
                throw Error("--at", "instruction " + std::to_string(*at) +
                                        " is outside the recording (" +
                                        std::to_string(session.start_instruction()) + " to " +
                                        std::to_string(session.end_instruction()) + ")");
            }
            const bool terminal = isatty(STDERR_FILENO) != 0;
            while (session.position() < *at) {
                const uint64_t next = std::min(*at, session.position() + kSeekProgressStep);
                if (!session.run_to(next)) {
                    throw Error("replay: " + path, session.divergence());
                }
                if (terminal) {
                    std::fprintf(
                        stderr, "\rkrr: gdbserver: replaying to %llu: %3.0f%% ",
                        static_cast<unsigned long long>(*at),
                        100.0 *
                            static_cast<double>(session.position() - session.start_instruction()) /
                            static_cast<double>(*at - session.start_instruction()));
                }
            }
            if (terminal) {
                std::fputc('\n', stderr);
            }
        }

        gdb::GdbListener listener(address);
        const std::string where = address.host + ":" + std::to_string(listener.port());
        std::fprintf(stderr, "krr: gdbserver: %s: instructions %llu to %llu, now at %llu\n",
                     path.c_str(), static_cast<unsigned long long>(session.start_instruction()),
                     static_cast<unsigned long long>(session.end_instruction()),
                     static_cast<unsigned long long>(session.position()));
        std::fprintf(stderr, "krr: gdbserver: listening on %s; connect with\n", where.c_str());
        if (have_vmlinux) {
            std::fprintf(stderr, "  gdb -q %s -ex 'target remote %s'\n", vmlinux.c_str(),
                         where.c_str());
        }
        if (!symbol_file.empty()) {
            std::fprintf(stderr, "  gdb -q %s -ex 'target remote %s'%s\n", symbol_file.c_str(),
                         where.c_str(),
                         have_vmlinux ? "   (symbols only, from System.map: loads at once)" : "");
        }
        std::fflush(stderr);

        gdb::GdbConnection connection(listener.accept_connection());
        gdb::GdbServer server(
            session, [&] { return connection.poll_interrupt(); }, std::move(symbols));
        const gdb::GdbConnection::End end = connection.serve(server);
        std::fprintf(stderr, "krr: gdbserver: %s\n",
                     end == gdb::GdbConnection::End::PeerClosed ? "gdb closed the connection"
                                                                : "gdb detached");
        return 0;
    };
    return spec;
}

} // namespace krr::cli
