// The execution handler of every opcode id, filled family by family (one
// source file per family registers its handlers). An id without a handler
// stops the CPU with a precise "not implemented" instead of guessing.
#pragma once

#include "replay-engine/cpu/opcode.h"
#include "replay-engine/interpreter/interpreter.h"

#include <array>

namespace krr {

struct HandlerTable {
    std::array<InstructionHandler, cpu::kOpcodeCount> handlers{};
    void set(cpu::OpcodeId id, InstructionHandler handler) {
        handlers[static_cast<size_t>(id)] = handler;
    }
    InstructionHandler get(cpu::OpcodeId id) const { return handlers[static_cast<size_t>(id)]; }
};

const HandlerTable& handler_table();

// One per family file.
void register_data_transfer_handlers(HandlerTable& table);
void register_control_flow_handlers(HandlerTable& table);
void register_system_handlers(HandlerTable& table);
void register_flag_handlers(HandlerTable& table);
void register_integer_arithmetic_handlers(HandlerTable& table);
void register_condition_handlers(HandlerTable& table);
void register_bit_handlers(HandlerTable& table);
void register_exchange_handlers(HandlerTable& table);
void register_string_handlers(HandlerTable& table);
void register_sse_handlers(HandlerTable& table);
void register_mmx_handlers(HandlerTable& table);
void register_x87_handlers(HandlerTable& table);

} // namespace krr
