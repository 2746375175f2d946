#include "replay-engine/interpreter/handler_table.h"

namespace krr {

namespace {

HandlerTable build() {
    HandlerTable table;
    register_data_transfer_handlers(table);
    register_control_flow_handlers(table);
    register_system_handlers(table);
    register_flag_handlers(table);
    register_integer_arithmetic_handlers(table);
    register_condition_handlers(table);
    register_bit_handlers(table);
    register_exchange_handlers(table);
    register_string_handlers(table);
    register_sse_handlers(table);
    register_mmx_handlers(table);
    register_x87_handlers(table);
    return table;
}

} // namespace

const HandlerTable& handler_table() {
    static const HandlerTable table = build();
    return table;
}

} // namespace krr
