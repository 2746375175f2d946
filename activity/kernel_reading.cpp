#include "activity/kernel_reading.h"

#include <array>

namespace krr::activity {

namespace {

constexpr ExceptionHandler kExceptions[] = {
    {"divide_error", 0, false},
    {"debug", 1, false},
    {"nmi", 2, false},
    {"int3", 3, false},
    {"overflow", 4, false},
    {"bounds", 5, false},
    {"invalid_op", 6, false},
    {"device_not_available", 7, false},
    {"double_fault", 8, true},
    {"coproc_segment_overrun", 9, false},
    {"invalid_tss", 10, true},
    {"segment_not_present", 11, true},
    {"stack_segment", 12, true},
    {"general_protection", 13, true},
    {"page_fault", 14, true},
    {"spurious_interrupt_bug", 15, false},
    {"coprocessor_error", 16, false},
    {"alignment_check", 17, true},
    {"machine_check", 18, false},
    {"simd_coprocessor_error", 19, false},
    {"virtualization_exception", 20, false},
    {"control_protection", 21, true},
};

} // namespace

std::span<const ExceptionHandler> exception_handlers() {
    return kExceptions;
}

uint64_t read_u64(ReplaySession& s, uint64_t address) {
    std::array<uint8_t, 8> b{};
    if (s.read_virtual(address, b) != b.size()) {
        return 0;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = v << 8 | b[static_cast<size_t>(i)];
    }
    return v;
}

std::optional<TaskName> read_task(ReplaySession& s, const TaskLayout& layout, uint64_t task) {
    std::array<uint8_t, 4> pid{};
    std::array<uint8_t, 16> comm{};
    if (!layout.known || s.read_virtual(task + layout.pid_offset, pid) != pid.size() ||
        s.read_virtual(task + layout.comm_offset, comm) != comm.size()) {
        return std::nullopt;
    }
    TaskName name;
    name.pid =
        uint32_t{pid[0]} | uint32_t{pid[1]} << 8 | uint32_t{pid[2]} << 16 | uint32_t{pid[3]} << 24;
    for (uint8_t c : comm) {
        if (c == 0) {
            break;
        }
        name.comm.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    }
    return name;
}

// The per-CPU base is GS's while in the kernel, and waits in
// KERNEL_GS_BASE until the entry code's SWAPGS.
uint64_t read_current_task(ReplaySession& s, uint64_t offset) {
    const auto& cpu = s.vcpu().cpu;
    const uint64_t gs = cpu.seg[GS].base;
    const uint64_t base = gs >= 0xffff800000000000ULL ? gs : cpu.msr.kernel_gs_base;
    if (base < 0xffff800000000000ULL) {
        return 0;
    }
    const uint64_t task = read_u64(s, base + offset);
    return task >= 0xffff800000000000ULL ? task : 0;
}

} // namespace krr::activity
