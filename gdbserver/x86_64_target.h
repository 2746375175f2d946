// The x86-64 register set as gdb sees it: one table gives each register's
// number, name, size, tdesc type and feature, and from it come both the
// target description XML and the byte layout of the `g`/`G` image and of
// `p`/`P` values, so the two can never disagree.
#pragma once

#include "guest-model/machine_state.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace krr::gdb {

struct TargetRegister {
    std::string_view name;
    uint32_t bit_size;
    std::string_view type;    // a tdesc type, predefined or defined in the feature
    std::string_view group;   // "" leaves the choice to gdb
    std::string_view feature; // the tdesc feature it belongs to
    size_t offset;            // in the `g` image
};

// In gdb's remote numbering (the order of the XML), which `p`/`P` use.
std::span<const TargetRegister> target_registers();
size_t register_image_size();

// The document served for qXfer:features:read:target.xml.
const std::string& target_description_xml();

// The `g` image of `cpu`, little-endian, registers back to back.
std::vector<uint8_t> encode_register_image(const CpuState& cpu);
// Applies a `G` image to `cpu`. Throws krr::Error if its size is wrong.
// Fields gdb cannot see (descriptor caches, other MSRs) keep their values.
void decode_register_image(std::span<const uint8_t> image, CpuState& cpu);

// One register for `p`/`P`; throws krr::Error for an unknown number or a
// value of the wrong size.
std::vector<uint8_t> read_register(const CpuState& cpu, uint32_t number);
void write_register(CpuState& cpu, uint32_t number, std::span<const uint8_t> value);

} // namespace krr::gdb
