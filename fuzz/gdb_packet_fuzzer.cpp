// libFuzzer target for the GDB protocol layer: arbitrary bytes from the
// network go through the packet decoder in arbitrary chunks, and every
// payload (decoded or raw) through the request parser. Neither may throw,
// crash or grow without bound; a decoded packet must survive re-framing.
#include "gdbserver/gdb_request.h"
#include "gdbserver/packet_codec.h"
#include "gdbserver/x86_64_target.h"
#include "guest-model/error.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void exercise_request(std::string_view payload) {
    const krr::gdb::GdbRequest request = krr::gdb::parse_request(payload);
    // Register data from gdb goes to the register image; a size mismatch is
    // the one refusal allowed.
    krr::CpuState cpu;
    try {
        if (auto* g = std::get_if<krr::gdb::WriteRegisters>(&request)) {
            krr::gdb::decode_register_image(g->image, cpu);
        } else if (auto* p = std::get_if<krr::gdb::WriteRegister>(&request)) {
            krr::gdb::write_register(cpu, p->number, p->value);
        } else if (auto* r = std::get_if<krr::gdb::ReadRegister>(&request)) {
            krr::gdb::read_register(cpu, r->number);
        }
    } catch (const krr::Error&) {
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    // The first byte sets the chunk size the bytes arrive in, as recv() would
    // cut them; a small packet limit makes the oversize path reachable.
    const size_t chunk = 1 + data[0] % 64;
    krr::gdb::PacketDecoder decoder(data[0] & 0x80 ? 256 : krr::gdb::kMaxPacketSize);
    for (size_t at = 1; at < size; at += chunk) {
        const size_t n = std::min(chunk, size - at);
        for (const auto& event : decoder.feed(std::span(data + at, n))) {
            if (event.kind != krr::gdb::DecoderEvent::Kind::Packet) {
                continue;
            }
            krr::gdb::PacketDecoder again(2 * krr::gdb::kMaxPacketSize);
            const auto round_trip = again.feed(krr::gdb::frame_packet(event.payload));
            if (round_trip.size() != 1 || round_trip[0] != event) {
                std::abort();
            }
            exercise_request(event.payload);
        }
    }
    exercise_request(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
    return 0;
}
