// The I/O permission check that IN, OUT, INS and OUTS share: at CPL > IOPL
// the TSS's I/O permission bitmap decides, and a denied port is #GP(0).
#pragma once

#include "replay-engine/interpreter/interpreter.h"

#include <cstdint>

namespace krr {

void check_io_permission(Interpreter& in, uint16_t port, int size);

} // namespace krr
