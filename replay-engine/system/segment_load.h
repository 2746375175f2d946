// Loading segment registers and the system segment registers in long mode:
// the checks of MOV/POP to a segment register, LTR, LLDT, and the code
// segment checks shared by far returns and IRETQ.
#pragma once

#include "guest-model/machine_state.h"
#include "replay-engine/mmu/linear_memory.h"
#include "replay-engine/system/descriptor_tables.h"

namespace krr {

// MOV/POP to DS, ES, FS, GS or SS in 64-bit mode. Throws #GP/#SS/#NP with
// the selector as error code. A null selector is allowed for data segments
// (and for SS at CPL < 3); FS/GS bases from the descriptor are 32 bits, as
// the architecture loads them.
void load_data_segment(CpuState& cpu, LinearMemory& memory, SegmentIndex which, uint16_t selector);

// LTR and LLDT (CPL 0 checked by the caller).
void load_task_register(CpuState& cpu, LinearMemory& memory, uint16_t selector);
void load_ldt_register(CpuState& cpu, LinearMemory& memory, uint16_t selector);

// The descriptor for a return to `selector` (far RET, IRETQ): a present code
// segment with RPL >= CPL and the privilege rules for conforming segments.
Segment code_segment_for_return(CpuState& cpu, LinearMemory& memory, uint16_t selector);

// After a return to an outer privilege level, data segment registers the new
// level may not use are nulled (SDM, RET and IRET operation).
void null_inaccessible_data_segments(CpuState& cpu, unsigned new_cpl);

} // namespace krr
