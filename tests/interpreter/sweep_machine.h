// The snippet machine of the instruction sweep: user_mode_machine.h's long-
// mode machine (code and data window at the native oracle's addresses, CPL 3,
// an IDT landing per vector), with the TSS laid out as Linux lays it out for
// a task without ioperm: the I/O permission bitmap lies beyond the TSS limit,
// so port I/O at CPL 3 faults as it does natively.
#pragma once

#include "guest-model/cpuid_table.h"
#include "replay-engine/interpreter/interpreter.h"

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace krr::testing {

struct SweepOutcome {
    bool ok = true; // false: the interpreter stopped (see error)
    std::string error;
    int vector = -1;        // the exception delivered, or -1
    uint64_t fault_rip = 0; // the RIP in the exception frame
    uint64_t fault_cr2 = 0;
    CpuState cpu{}; // at the end, or at the fault (before delivery)
    std::vector<uint8_t> window;
    uint64_t instructions = 0;
};

class SweepMachine {
public:
    SweepMachine();
    ~SweepMachine();
    SweepOutcome run(std::span<const uint8_t> code, const CpuState& in,
                     std::span<const uint8_t> window = {});

private:
    class NoDevices;
    GuestMemory ram_{64ULL << 20};
    std::unique_ptr<NoDevices> devices_;
    CpuidTable cpuid_ = default_cpuid_table();
    VcpuState vcpu_{};
    CpuState initial_{};
};

} // namespace krr::testing
