// The architectural state of one x86-64 vCPU, as both accelerators, the
// snapshot and the replay engine see it. Plain data: the emulator executes on
// it, the KVM backend converts it to and from KVM's structures, the trace
// serializes it. Field layout follows the architecture, not any one user.
#pragma once

#include <array>
#include <cstdint>

namespace krr {

// General registers in the encoding order of ModRM/REX.
enum Gpr : uint8_t {
    RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI,
    R8, R9, R10, R11, R12, R13, R14, R15,
};
inline constexpr int kGprCount = 16;

enum SegmentIndex : uint8_t { ES, CS, SS, DS, FS, GS };
inline constexpr int kSegmentCount = 6;

// A segment register with its hidden descriptor cache. The attribute fields
// are the descriptor's, unpacked (as KVM's kvm_segment has them).
struct Segment {
    uint64_t base = 0;
    uint32_t limit = 0;
    uint16_t selector = 0;
    uint8_t type = 0;  // descriptor type, 4 bits
    uint8_t s = 0;     // 1 = code/data, 0 = system
    uint8_t dpl = 0;
    uint8_t present = 0;
    uint8_t avl = 0;
    uint8_t l = 0;     // 64-bit code segment
    uint8_t db = 0;
    uint8_t g = 0;
    uint8_t unusable = 0;

    bool operator==(const Segment&) const = default;
};

struct DescriptorTable {
    uint64_t base = 0;
    uint16_t limit = 0;
    bool operator==(const DescriptorTable&) const = default;
};

// x87, MMX and SSE state in the same terms as FXSAVE's image.
struct FpuState {
    uint16_t fcw = 0x37f;
    uint16_t fsw = 0;
    uint8_t ftw = 0;  // abridged tag word: one bit per register, 1 = valid
    uint16_t fop = 0;
    uint64_t fip = 0;
    uint64_t fdp = 0;
    uint32_t mxcsr = 0x1f80;
    // ST0..ST7 (physical registers R0..R7 rotated by TOP, as FXSAVE stores
    // them): 80-bit values in the low 10 bytes.
    std::array<std::array<uint8_t, 16>, 8> st{};
    std::array<std::array<uint8_t, 16>, 16> xmm{};

    bool operator==(const FpuState&) const = default;
};

// The MSRs the machine implements. Anything else raises #GP in the guest.
struct ModelSpecificRegisters {
    uint64_t efer = 0;
    uint64_t star = 0;
    uint64_t lstar = 0;
    uint64_t cstar = 0;
    uint64_t sfmask = 0;
    uint64_t kernel_gs_base = 0;
    uint64_t sysenter_cs = 0;
    uint64_t sysenter_esp = 0;
    uint64_t sysenter_eip = 0;
    uint64_t pat = 0x0007040600070406ULL;
    uint64_t apic_base = 0xfee00900ULL;  // enabled, BSP
    uint64_t misc_enable = 1;            // fast strings
    uint64_t tsc_offset = 0;             // guest TSC = virtual clock + offset

    bool operator==(const ModelSpecificRegisters&) const = default;
};

// Events that sit between instructions and are part of the state: an
// interrupt shadow after STI or MOV SS, a halted CPU, a pending NMI.
struct PendingEvents {
    uint8_t interrupt_shadow = 0;
    uint8_t halted = 0;
    uint8_t nmi_pending = 0;
    uint8_t nmi_masked = 0;

    bool operator==(const PendingEvents&) const = default;
};

struct CpuState {
    std::array<uint64_t, kGprCount> gpr{};
    uint64_t rip = 0;
    uint64_t rflags = 0x2;
    std::array<Segment, kSegmentCount> seg{};
    Segment ldtr{};
    Segment tr{};
    DescriptorTable gdtr{};
    DescriptorTable idtr{};
    uint64_t cr0 = 0x60000010ULL;
    uint64_t cr2 = 0;
    uint64_t cr3 = 0;
    uint64_t cr4 = 0;
    uint64_t cr8 = 0;
    std::array<uint64_t, 4> dr{};
    uint64_t dr6 = 0xffff0ff0ULL;
    uint64_t dr7 = 0x400;
    ModelSpecificRegisters msr{};
    FpuState fpu{};
    PendingEvents events{};

    bool operator==(const CpuState&) const = default;
};

// A vCPU's state plus where it is in its run: its retired instruction count
// is the position every input is pinned to under the emulator.
struct VcpuState {
    uint32_t id = 0;
    CpuState cpu{};
    uint64_t instructions_retired = 0;

    bool operator==(const VcpuState&) const = default;
};

} // namespace krr
