#include "tests/interpreter/user_mode_machine.h"

#include "guest-model/error.h"
#include "replay-engine/system/descriptor_tables.h"
#include "tests/support/native_oracle.h"

#include <csignal>
#include <cstring>

namespace krr::testing {

namespace {

constexpr uint64_t P = 1, RW = 2, US = 4, PS = 0x80;
constexpr uint64_t kPml4 = 0x1000, kPdptLow = 0x2000, kPdLow = 0x3000, kPtCode = 0x4000,
                   kPtWindow = 0x5000;
constexpr uint64_t kGdt = 0x10000, kIdt = 0x11000, kTss = 0x12000, kLanding = 0x20000;
constexpr uint64_t kKernelStack = 0x80000;
constexpr uint64_t kCodePhysical = 0x400000, kWindowPhysical = 0x600000;

} // namespace

class UserModeMachine::NoDevices : public CpuEnvironment {
public:
    uint64_t io_read(uint16_t, int) override { return ~0ULL; }
    void io_write(uint16_t, int, uint64_t) override {}
    uint64_t virtual_tsc(uint64_t instructions) override { return instructions; }
    uint64_t mmio_read(uint64_t, int) override { return ~0ULL; }
    void mmio_write(uint64_t, int, uint64_t) override {}
};

bool signal_matches_vector(int signal, int vector) {
    switch (signal) {
    case SIGSEGV:
        return vector == kPageFault || vector == kGeneralProtection || vector == kStackFault;
    case SIGILL:
        return vector == kInvalidOpcode;
    case SIGFPE:
        return vector == kDivideError || vector == kX87Error || vector == kSimdError;
    case SIGBUS:
        return vector == kAlignmentCheck;
    case SIGTRAP:
        return vector == kBreakpoint || vector == kDebug;
    default:
        return false;
    }
}

UserModeMachine::UserModeMachine() : devices_(std::make_unique<NoDevices>()) {
    auto put = [&](uint64_t at, uint64_t v) { std::memcpy(ram_.host(at, 8), &v, 8); };
    // Identity map of the first 2 MiB for the kernel side (supervisor only).
    put(kPml4, kPdptLow | P | RW | US);
    put(kPdptLow, kPdLow | P | RW | US);
    put(kPdLow, 0 | P | RW | PS);
    // Code at 0x10000000 (PD index 128), window at 0x20000000 (PD index 256).
    put(kPdLow + 128 * 8, kPtCode | P | RW | US);
    put(kPtCode, kCodePhysical | P | RW | US);
    put(kPdLow + 256 * 8, kPtWindow | P | RW | US);
    for (uint64_t i = 0; i < NativeOracle::kWindowSize / 4096; ++i) {
        put(kPtWindow + i * 8, (kWindowPhysical + i * 4096) | P | RW | US);
    }
    // GDT as Linux lays it out.
    put(kGdt + 0x10, 0x00af9b000000ffffULL);
    put(kGdt + 0x18, 0x00cf93000000ffffULL);
    put(kGdt + 0x28, 0x00cff3000000ffffULL);
    put(kGdt + 0x30, 0x00affb000000ffffULL);
    put(kGdt + 0x40, 0x0000890000000067ULL | ((kTss & 0xffffff) << 16));
    put(kTss + 4, kKernelStack);
    // The I/O map base (offset 0x66) past the limit, as Linux lays out the TSS
    // of a task without ioperm: port I/O at CPL 3 faults as it does natively.
    const uint16_t no_io_bitmap = 0x68;
    std::memcpy(ram_.host(kTss + 0x66, 2), &no_io_bitmap, 2);
    // Each landing holds HLT, so the interpreter stops right after a delivery
    // instead of running on into whatever follows.
    std::memset(ram_.host(kLanding, 256 * 16), 0xf4, 256 * 16);
    for (int v = 0; v < 256; ++v) {
        uint64_t handler = kLanding + static_cast<uint64_t>(v) * 16;
        uint64_t low = (handler & 0xffff) | (0x10ULL << 16) | (0xeULL << 40) | (1ULL << 47) |
                       (((handler >> 16) & 0xffff) << 48);
        put(kIdt + static_cast<uint64_t>(v) * 16, low);
        put(kIdt + static_cast<uint64_t>(v) * 16 + 8, 0);
    }

    CpuState& c = initial_;
    c.gdtr = {kGdt, 0x4f};
    c.idtr = {kIdt, 0xfff};
    c.tr = unpack_descriptor(0x0000890000000067ULL | ((kTss & 0xffffff) << 16), 0, true);
    c.tr.selector = 0x40;
    c.tr.type = 11;
    c.cr0 = 0x80050033;
    c.cr3 = kPml4;
    c.cr4 = 0x6a0; // PAE PGE OSFXSR OSXMMEXCPT
    c.msr.efer = 0xd01;
    c.seg[CS] = unpack_descriptor(0x00affb000000ffffULL, 0, false);
    c.seg[CS].selector = 0x33;
    for (SegmentIndex s : {SS, DS, ES}) {
        c.seg[s] = unpack_descriptor(0x00cff3000000ffffULL, 0, false);
        c.seg[s].selector = 0x2b;
    }
    c.seg[FS].unusable = c.seg[GS].unusable = 1;
}

UserModeMachine::~UserModeMachine() = default;

EmulatedOutcome UserModeMachine::run(std::span<const uint8_t> code, const CpuState& in,
                                     std::span<const uint8_t> window) {
    if (code.size() > 4000 || window.size() > NativeOracle::kWindowSize) {
        throw Error("user-mode machine", "snippet or window too large");
    }
    std::memset(ram_.host(kCodePhysical, 4096), 0xcc, 4096);
    std::memcpy(ram_.host(kCodePhysical, code.size()), code.data(), code.size());
    std::memset(ram_.host(kWindowPhysical, NativeOracle::kWindowSize), 0,
                NativeOracle::kWindowSize);
    if (!window.empty()) {
        std::memcpy(ram_.host(kWindowPhysical, window.size()), window.data(), window.size());
    }
    vcpu_ = VcpuState{};
    vcpu_.cpu = initial_;
    vcpu_.cpu.gpr = in.gpr;
    vcpu_.cpu.rflags = (in.rflags & 0x40cd5ULL) | 0x202;
    vcpu_.cpu.fpu = in.fpu;
    vcpu_.cpu.rip = NativeOracle::kCodeAddress;
    const uint64_t end = NativeOracle::kCodeAddress + code.size();

    Interpreter interp(vcpu_, ram_, *devices_, cpuid_);
    EmulatedOutcome out;
    for (int step = 0; step < 100000; ++step) {
        CpuState before = vcpu_.cpu;
        StopReason r = interp.run(vcpu_.instructions_retired + 1);
        uint64_t rip = vcpu_.cpu.rip;
        if (rip >= kLanding && rip < kLanding + 256 * 16) {
            out.vector = static_cast<int>((rip - kLanding) / 16);
            // The state at the fault, as the native side's signal sees it:
            // what the instruction did before it faulted (an MMX store has
            // set TOP, a REP string has made progress), with RIP, RFLAGS and
            // RSP from the exception frame, which delivery has replaced.
            uint64_t frame = vcpu_.cpu.gpr[RSP];
            bool has_error = exception_has_error_code(static_cast<uint8_t>(out.vector));
            uint64_t interrupted[4]; // RIP, CS, RFLAGS, RSP
            std::memcpy(interrupted, ram_.host(frame + (has_error ? 8 : 0), sizeof interrupted),
                        sizeof interrupted);
            out.fault_rip = interrupted[0];
            out.fault_cr2 = vcpu_.cpu.cr2;
            out.cpu = before;
            out.cpu.gpr = vcpu_.cpu.gpr;
            out.cpu.gpr[RSP] = interrupted[3];
            out.cpu.rflags = interrupted[2];
            out.cpu.fpu = vcpu_.cpu.fpu;
            break;
        }
        if (r != StopReason::ReachedTarget) {
            out.ok = false;
            out.error = std::string(stop_reason_name(r)) + ": " + interp.error();
            out.cpu = vcpu_.cpu;
            break;
        }
        if (rip == end) {
            out.cpu = vcpu_.cpu;
            break;
        }
        if (step == 99999) {
            out.ok = false;
            out.error = "did not reach the end of the snippet in 100000 instructions";
        }
    }
    out.instructions = vcpu_.instructions_retired;
    out.window.assign(ram_.host(kWindowPhysical, NativeOracle::kWindowSize),
                      ram_.host(kWindowPhysical, NativeOracle::kWindowSize) +
                          NativeOracle::kWindowSize);
    return out;
}

} // namespace krr::testing
