// What INIT and STARTUP do to a CPU (SDM vol. 3, 9.1.1 and 10.4.4), shared
// by the recorder's accelerator and replay so both apply them identically.
#pragma once

#include "guest-model/machine_state.h"

#include <cstdint>

namespace krr {

// INIT: the reset state, real mode at F000:FFF0; the MSRs but EFER keep
// their values. The CPU then waits for STARTUP.
void apply_init(CpuState& cpu);

// STARTUP with vector V: start in real mode at CS = V << 8 (base V000), IP 0.
void apply_startup(CpuState& cpu, uint8_t vector);

} // namespace krr
