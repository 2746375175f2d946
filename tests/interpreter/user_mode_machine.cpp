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
// Landings: 16 bytes of HLT per vector, then one for SYSCALL and one for
// SYSENTER.
constexpr uint64_t kLandingCount = 258;
constexpr uint64_t kSystemCallEntry = kLanding + 256 * 16;
constexpr uint64_t kSysenterEntry = kLanding + 257 * 16;
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
    std::memset(ram_.host(kLanding, kLandingCount * 16), 0xf4, kLandingCount * 16);
    for (int v = 0; v < 256; ++v) {
        uint64_t handler = kLanding + static_cast<uint64_t>(v) * 16;
        // Linux's IDT: #BP, #OF and the 32-bit system call gate are DPL 3.
        uint64_t dpl = (v == 3 || v == 4 || v == 0x80) ? 3 : 0;
        uint64_t low = (handler & 0xffff) | (0x10ULL << 16) | (0xeULL << 40) | (dpl << 45) |
                       (1ULL << 47) | (((handler >> 16) & 0xffff) << 48);
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
    // SYSCALL as Linux sets it up: kernel CS 0x10, SYSRET base 0x23, and
    // TF DF IF IOPL AC NT masked on entry.
    c.msr.star = 0x0023001000000000ULL;
    c.msr.lstar = kSystemCallEntry;
    c.msr.sfmask = 0x47700;
    // SYSENTER as Linux sets it up for 32-bit programs on Intel.
    c.msr.sysenter_cs = 0x10;
    c.msr.sysenter_esp = kKernelStack;
    c.msr.sysenter_eip = kSysenterEntry;
    c.seg[CS] = unpack_descriptor(0x00affb000000ffffULL, 0, false);
    c.seg[CS].selector = 0x33;
    for (SegmentIndex s : {SS, DS, ES}) {
        c.seg[s] = unpack_descriptor(0x00cff3000000ffffULL, 0, false);
        c.seg[s].selector = 0x2b;
    }
    c.seg[FS].unusable = c.seg[GS].unusable = 1;
}

UserModeMachine::~UserModeMachine() = default;

CpuState UserModeMachine::prepare(std::span<const uint8_t> code, const CpuState& in,
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
    CpuState start = initial_;
    start.gpr = in.gpr;
    start.rflags = (in.rflags & 0x40cd5ULL) | 0x202;
    start.fpu = in.fpu;
    start.rip = NativeOracle::kCodeAddress;
    return start;
}

int UserModeMachine::landing_at(uint64_t rip) {
    if (rip < kLanding || rip >= kLanding + kLandingCount * 16) {
        return -1;
    }
    return static_cast<int>((rip - kLanding) / 16);
}

EmulatedOutcome UserModeMachine::outcome(const CpuState& before, const CpuState& now) {
    EmulatedOutcome out;
    const int landing = landing_at(now.rip);
    if (landing == kSystemCallLanding || landing == kSysenterLanding) {
        out.system_call = true;
        out.cpu = now;
    } else if (landing >= 0) {
        out.vector = landing;
        // The state at the fault, as the native side's signal sees it:
        // what the instruction did before it faulted (an MMX store has
        // set TOP, a REP string has made progress), with RIP, RFLAGS and
        // RSP from the exception frame, which delivery has replaced.
        uint64_t frame = now.gpr[RSP];
        bool has_error = exception_has_error_code(static_cast<uint8_t>(out.vector));
        uint64_t words[5]; // error code (if any), RIP, CS, RFLAGS, RSP
        const uint8_t* at = ram_.host(frame, sizeof words);
        if (!at) {
            out.ok = false;
            out.error = "the exception frame is outside RAM";
            return out;
        }
        std::memcpy(words, at, sizeof words);
        const uint64_t* interrupted = words + (has_error ? 1 : 0);
        out.error_code = has_error ? words[0] : 0;
        out.fault_rip = interrupted[0];
        out.fault_cr2 = now.cr2;
        out.cpu = before;
        out.cpu.gpr = now.gpr;
        out.cpu.gpr[RSP] = interrupted[3];
        out.cpu.rflags = interrupted[2];
        out.cpu.fpu = now.fpu;
    } else {
        out.cpu = now;
    }
    out.window.assign(ram_.host(kWindowPhysical, NativeOracle::kWindowSize),
                      ram_.host(kWindowPhysical, NativeOracle::kWindowSize) +
                          NativeOracle::kWindowSize);
    return out;
}

EmulatedOutcome UserModeMachine::run(std::span<const uint8_t> code, const CpuState& in,
                                     std::span<const uint8_t> window) {
    vcpu_ = VcpuState{};
    vcpu_.cpu = prepare(code, in, window);
    const uint64_t end = NativeOracle::kCodeAddress + code.size();

    Interpreter interp(vcpu_, ram_, *devices_, cpuid_);
    for (int step = 0; step < 100000; ++step) {
        CpuState before = vcpu_.cpu;
        StopReason r = interp.run(vcpu_.instructions_retired + 1);
        uint64_t rip = vcpu_.cpu.rip;
        if (landing_at(rip) >= 0 || (r == StopReason::ReachedTarget && rip == end)) {
            EmulatedOutcome out = outcome(before, vcpu_.cpu);
            out.instructions = vcpu_.instructions_retired;
            return out;
        }
        if (r != StopReason::ReachedTarget) {
            EmulatedOutcome out = outcome(before, vcpu_.cpu);
            out.ok = false;
            out.error = std::string(stop_reason_name(r)) + ": " + interp.error();
            out.instructions = vcpu_.instructions_retired;
            return out;
        }
    }
    EmulatedOutcome out = outcome(vcpu_.cpu, vcpu_.cpu);
    out.ok = false;
    out.error = "did not reach the end of the snippet in 100000 instructions";
    out.instructions = vcpu_.instructions_retired;
    return out;
}

} // namespace krr::testing
