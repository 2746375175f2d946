// An architectural exception raised while executing an instruction. Memory
// accesses and instruction handlers throw it; the execution loop catches it
// at the instruction boundary and delivers it through the IDT. Throwing keeps
// the fast path free of status checks; faults are rare next to accesses.
#pragma once

#include <cstdint>

namespace krr {

enum ExceptionVector : uint8_t {
    kDivideError = 0,
    kDebug = 1,
    kNmi = 2,
    kBreakpoint = 3,
    kOverflow = 4,
    kBoundRange = 5,
    kInvalidOpcode = 6,
    kDeviceNotAvailable = 7,
    kDoubleFault = 8,
    kInvalidTss = 10,
    kSegmentNotPresent = 11,
    kStackFault = 12,
    kGeneralProtection = 13,
    kPageFault = 14,
    kX87Error = 16,
    kAlignmentCheck = 17,
    kMachineCheck = 18,
    kSimdError = 19,
};

struct GuestFault {
    uint8_t vector = 0;
    bool has_error_code = false;
    uint32_t error_code = 0;
    uint64_t cr2 = 0; // the faulting linear address, for #PF

    static GuestFault gp(uint32_t error_code = 0) {
        return {kGeneralProtection, true, error_code, 0};
    }
    static GuestFault ss(uint32_t error_code = 0) { return {kStackFault, true, error_code, 0}; }
    static GuestFault ud() { return {kInvalidOpcode, false, 0, 0}; }
    static GuestFault de() { return {kDivideError, false, 0, 0}; }
    static GuestFault pf(uint64_t address, uint32_t error_code) {
        return {kPageFault, true, error_code, address};
    }
};

// Exceptions that push an error code (SDM vol. 3, table 6-1).
constexpr bool exception_has_error_code(uint8_t vector) {
    return vector == kDoubleFault || vector == kInvalidTss || vector == kSegmentNotPresent ||
           vector == kStackFault || vector == kGeneralProtection || vector == kPageFault ||
           vector == kAlignmentCheck;
}

} // namespace krr
