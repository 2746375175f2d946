// Every opcode the decoder knows, as one dense id. The list is generated
// from opcode_table.def, the single description of the instruction set; a
// decoded instruction carries its id so an execution handler table can be
// indexed directly.
#pragma once

#include <cstdint>
#include <string_view>

namespace krr::cpu {

enum class OpcodeId : uint16_t {
#define X(id, ...) id,
#include "replay-engine/cpu/opcode_table.def"
#undef X
};

inline constexpr int kOpcodeCount = 0
#define X(id, ...) +1
#include "replay-engine/cpu/opcode_table.def"
#undef X
    ;

// The id's name as written in the table ("ADD_EbGb").
std::string_view opcode_id_name(OpcodeId id);

} // namespace krr::cpu
