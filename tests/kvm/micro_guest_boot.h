// The micro-guest's image, built by tests/kvm/meson.build.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace krr::test {

std::vector<uint8_t> read_binary(const std::string& path);

} // namespace krr::test
