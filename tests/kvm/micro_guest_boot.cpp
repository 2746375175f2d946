#include "tests/kvm/micro_guest_boot.h"

#include "guest-model/error.h"

#include <fstream>
#include <iterator>

namespace krr::test {

std::vector<uint8_t> read_binary(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("reading " + path, "cannot open it");
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

} // namespace krr::test
