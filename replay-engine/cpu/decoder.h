// The x86-64 instruction decoder of krr's emulator: bytes in, a
// DecodedInstruction or a precise reason out. Table-driven (opcode_table.def)
// and allocation-free; the emulator's CPU, the disassembly views and the
// decoded-block cache all decode through here.
#pragma once

#include "replay-engine/cpu/decoded_instruction.h"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace krr::cpu {

enum class DecodeStatus : uint8_t {
    Ok,
    // The bytes ended before the instruction did; decode again with more.
    Truncated,
    // The CPU raises #UD: an undefined opcode, LOCK where it is not allowed,
    // an opcode removed in 64-bit mode, VEX after a legacy 66/F2/F3/REX.
    InvalidOpcode,
    // More than 15 bytes: the CPU raises #GP.
    TooLong,
    // A valid encoding (or a mode) this decoder does not know yet.
    NotImplemented,
};

struct DecodeResult {
    DecodeStatus status = DecodeStatus::Ok;
    // Complete when ok(); otherwise filled as far as decoding got.
    DecodedInstruction instruction;
    // The opcode bytes read so far (escape bytes included), to name it in errors.
    std::array<uint8_t, 4> opcode_bytes{};
    uint8_t opcode_byte_count = 0;

    bool ok() const { return status == DecodeStatus::Ok; }
    // "truncated: ...", "invalid opcode 0f ff", ... (allocates: error path only)
    std::string error_text() const;
};

DecodeResult decode(std::span<const uint8_t> bytes, CpuMode mode);

// The Intel-syntax mnemonic, with the spelling of the instruction's operand
// (or address) size where the mnemonic has one ("movsq", "cdqe", "iretq").
std::string_view mnemonic(const DecodedInstruction& instruction);

const char* decode_status_name(DecodeStatus status);

} // namespace krr::cpu
