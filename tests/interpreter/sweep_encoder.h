// Synthesizes valid encodings for one opcode-table row, for the generated
// differential sweep: prefixes, REX variants, escape bytes, ModRM/SIB with
// r15 as the base so memory operands land in the oracle's data window, and
// random immediates. Alongside the bytes it says which registers and window
// bytes must hold particular values for the instruction to stay inside the
// snippet (branch targets, far pointers, selectors, string pointers).
#pragma once

#include "replay-engine/cpu/opcode_table.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace krr::testing {

// Where the sweep's registers point, as offsets in the data window.
inline constexpr uint64_t kSweepBaseOffset = 0x1000;  // r15, the ModRM base
inline constexpr uint64_t kSweepStackOffset = 0x8000; // rsp
inline constexpr uint64_t kSweepFrameOffset = 0x9000; // rbp

struct RegisterSetting {
    int reg = 0;
    uint64_t value = 0;
};

struct WindowSetting {
    uint64_t offset = 0;
    std::vector<uint8_t> bytes;
};

struct SweepEncoding {
    std::vector<uint8_t> code;     // the instruction, then what the snippet adds after it
    size_t instruction_length = 0; // bytes of the row's instruction at the start of code
    // Applied in order after the random state, so later entries win.
    std::vector<RegisterSetting> registers;
    std::vector<WindowSetting> window;
    bool set_direction_flag = false;
    bool direction_flag = false;
    // LOCK where the row does not allow it (a register destination, or a
    // row that is not lockable): the decoder must reject it and the CPU
    // raise #UD.
    bool misplaced_lock = false;
};

// One encoding of `row` from `rng`, or nothing when the random choices
// happened to select a more specific row of the same opcode (call again).
std::optional<SweepEncoding> synthesize(const cpu::OpcodeRow& row, std::mt19937_64& rng);

// The row the table's precedence rule (a mandatory prefix over none, a
// fixed ModRM.rm over a fixed ModRM.reg over neither, then table order)
// selects for `bytes`, computed independently of the decoder so that the
// decoder can be checked against it. Expects bytes made by synthesize().
std::optional<cpu::OpcodeId> expected_row(const std::vector<uint8_t>& bytes);

std::string hex_bytes(const std::vector<uint8_t>& bytes, size_t count);

} // namespace krr::testing
