// libFuzzer target for the activity index parser: whatever the bytes,
// decoding may only succeed or throw krr::Error; what it accepts must encode
// back to an equal index. Inputs whose first byte is odd are taken as a body
// and framed with a correct header and checksum, so the fuzzer reaches the
// body's own checks instead of stopping at the checksum.
#include "activity/activity_index.h"
#include "guest-model/byte_codec.h"
#include "guest-model/checksum.h"
#include "guest-model/error.h"

#include <cstdlib>
#include <cstring>

namespace {

std::vector<uint8_t> framed(const uint8_t* body, size_t size) {
    krr::ByteWriter w;
    const char magic[8] = {'K', 'R', 'R', 'A', 'C', 'T', 'V', '\n'};
    w.bytes({reinterpret_cast<const uint8_t*>(magic), sizeof magic});
    w.u32(krr::activity::kActivityFormatVersion);
    w.u64(size);
    w.u64(krr::checksum64({body, size}));
    w.bytes({body, size});
    return w.take();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<uint8_t> input;
    if (size > 0 && (data[0] & 1)) {
        input = framed(data + 1, size - 1);
    } else {
        input.assign(data, data + size);
    }
    try {
        auto index = krr::activity::decode_activity_index(input);
        for (const auto& e : index.events) {
            (void)krr::activity::describe_event(e);
        }
        auto again = krr::activity::encode_activity_index(index);
        if (krr::activity::decode_activity_index(again) != index) {
            std::abort();
        }
    } catch (const krr::Error&) {
    }
    return 0;
}
