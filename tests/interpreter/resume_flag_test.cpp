// RFLAGS.RF through the interpreter (Intel SDM vol. 3, "Instruction-
// Breakpoint Exception Condition" and "RF flag"): a fault's frame carries
// RF = 1, IRETQ loads it, and the restarted instruction clears it when it
// completes; an interrupt between iterations of a REP string instruction
// pushes RF = 1, one between instructions RF as it is. Small hand-assembled
// programs run at CPL 0 under 4-level paging.
#include "guest-model/cpuid_table.h"
#include "replay-engine/interpreter/interpreter.h"
#include "replay-engine/system/descriptor_tables.h"

#include <algorithm>
#include <cstring>
#include <doctest/doctest.h>
#include <initializer_list>
#include <memory>

using namespace krr;

namespace {

constexpr uint64_t P = 1, RW = 2, PS = 0x80;
constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000;
constexpr uint64_t kGdt = 0x10000, kIdt = 0x11000, kLanding = 0x20000, kStack = 0x80000;
// Pages from 2 MiB, mapped through kPt; kAbsent starts not present.
constexpr uint64_t kCode = 0x200000, kData = 0x201000, kAbsent = 0x202000;
constexpr uint64_t kRf = 1ULL << 16, kInterruptVector = 0x20;

uint64_t handler(uint8_t vector) {
    return kLanding + vector * 16ULL;
}

class NoDevices : public CpuEnvironment {
public:
    uint64_t io_read(uint16_t, int) override { return ~0ULL; }
    void io_write(uint16_t, int, uint64_t) override {}
    uint64_t virtual_tsc(uint64_t instructions) override { return instructions; }
    uint64_t mmio_read(uint64_t, int) override { return ~0ULL; }
    void mmio_write(uint64_t, int, uint64_t) override {}
};

// Handlers: #PF drops its error code and returns (`add rsp, 8; iretq`), the
// interrupt vector returns (`iretq`); every other vector lands on a HLT.
struct Machine {
    GuestMemory ram{4 << 20};
    NoDevices devices;
    CpuidTable cpuid = default_cpuid_table();
    VcpuState vcpu{};
    std::unique_ptr<Interpreter> interpreter;

    void put(uint64_t at, uint64_t v) { std::memcpy(ram.host(at, 8), &v, 8); }
    uint64_t get(uint64_t at) {
        uint64_t v;
        std::memcpy(&v, ram.host(at, 8), 8);
        return v;
    }
    void map(uint64_t page) { put(kPt + ((page >> 12) & 511) * 8, page | P | RW); }

    explicit Machine(std::initializer_list<uint8_t> program) {
        put(kPml4, kPdpt | P | RW);
        put(kPdpt, kPd | P | RW);
        put(kPd, 0 | P | RW | PS);
        put(kPd + 8, kPt | P | RW);
        map(kCode);
        map(kData);
        put(kGdt + 0x10, 0x00af9b000000ffffULL);
        put(kGdt + 0x18, 0x00cf93000000ffffULL);
        std::memset(ram.host(kLanding, 256 * 16), 0xf4, 256 * 16);
        const uint8_t drop_error_code_and_return[] = {0x48, 0x83, 0xc4, 0x08, 0x48, 0xcf};
        std::memcpy(ram.host(handler(kPageFault), sizeof drop_error_code_and_return),
                    drop_error_code_and_return, sizeof drop_error_code_and_return);
        const uint8_t iretq[] = {0x48, 0xcf};
        std::memcpy(ram.host(handler(kInterruptVector), sizeof iretq), iretq, sizeof iretq);
        for (uint64_t v = 0; v < 256; ++v) {
            uint64_t h = handler(static_cast<uint8_t>(v));
            put(kIdt + v * 16, (h & 0xffff) | (0x10ULL << 16) | (0xeULL << 40) | (1ULL << 47) |
                                   (((h >> 16) & 0xffff) << 48));
            put(kIdt + v * 16 + 8, 0);
        }
        std::memset(ram.host(kCode, 4096), 0x90, 4096);
        std::copy(program.begin(), program.end(), ram.host(kCode, program.size()));

        CpuState& c = vcpu.cpu;
        c.gdtr = {kGdt, 0x1f};
        c.idtr = {kIdt, 0xfff};
        c.cr0 = 0x80050033;
        c.cr3 = kPml4;
        c.cr4 = 0x6a0;
        c.msr.efer = 0xd01;
        c.seg[CS] = unpack_descriptor(0x00af9b000000ffffULL, 0, false);
        c.seg[CS].selector = 0x10;
        for (SegmentIndex s : {SS, DS, ES}) {
            c.seg[s] = unpack_descriptor(0x00cf93000000ffffULL, 0, false);
            c.seg[s].selector = 0x18;
        }
        c.seg[FS].unusable = c.seg[GS].unusable = 1;
        c.gpr[RSP] = kStack;
        c.rflags = 0x202;
        c.rip = kCode;
        interpreter = std::make_unique<Interpreter>(vcpu, ram, devices, cpuid);
    }

    CpuState& cpu() { return vcpu.cpu; }
    uint64_t count() const { return vcpu.instructions_retired; }
    StopReason run(uint64_t target) { return interpreter->run(target); }
    // The frame a delivery just pushed on the kernel stack (no stack switch).
    uint64_t frame_rip(bool has_error_code) {
        return get(cpu().gpr[RSP] + (has_error_code ? 8 : 0));
    }
    uint64_t frame_rflags(bool has_error_code) {
        return get(cpu().gpr[RSP] + (has_error_code ? 8 : 0) + 16);
    }
};

} // namespace

TEST_CASE("a #PF frame has RF = 1; IRETQ restarts the store with RF set until it completes") {
    Machine m({0x88, 0x07, 0x90}); // mov [rdi], al; nop
    m.cpu().gpr[RDI] = kAbsent;
    m.cpu().gpr[RAX] = 0x5a;

    REQUIRE(m.interpreter->run(1, RunControl{.stop_after_deliveries = 1}) == StopReason::Delivered);
    REQUIRE(m.cpu().rip == handler(kPageFault));
    CHECK(m.count() == 0);
    CHECK(m.frame_rip(true) == kCode);
    CHECK(m.frame_rflags(true) == (0x202 | kRf));
    CHECK((m.cpu().rflags & kRf) == 0); // cleared on entry to the handler

    m.map(kAbsent);                                 // the handler's work, done from outside
    REQUIRE(m.run(2) == StopReason::ReachedTarget); // add rsp, 8; iretq
    REQUIRE(m.cpu().rip == kCode);
    CHECK(m.cpu().rflags == (0x202 | kRf)); // IRETQ loaded RF and kept it

    REQUIRE(m.run(3) == StopReason::ReachedTarget); // the store, this time complete
    CHECK(m.cpu().rip == kCode + 2);
    CHECK(m.ram.host(kAbsent, 1)[0] == 0x5a);
    CHECK(m.cpu().rflags == 0x202); // cleared as the instruction completed
}

TEST_CASE("RF is cleared when an instruction completes, not between string iterations") {
    Machine m({0x90, 0xf3, 0xa4, 0x90}); // nop; rep movsb; nop
    m.cpu().rflags = 0x202 | kRf;
    REQUIRE(m.run(1) == StopReason::ReachedTarget);
    CHECK(m.cpu().rflags == 0x202);

    m.cpu().gpr[RCX] = 3;
    m.cpu().gpr[RSI] = kData;
    m.cpu().gpr[RDI] = kData + 0x100;
    m.cpu().rflags = 0x202 | kRf;
    REQUIRE(m.run(2) == StopReason::ReachedTarget); // the first iteration
    REQUIRE(m.cpu().rip == kCode + 1);
    CHECK((m.cpu().rflags & kRf) != 0);
    REQUIRE(m.run(4) == StopReason::ReachedTarget); // the last two
    REQUIRE(m.cpu().rip == kCode + 3);
    CHECK(m.cpu().rflags == 0x202);
}

TEST_CASE("an interrupt between REP iterations pushes RF = 1, between instructions RF = 0") {
    // nop; rep movsb (4 bytes); nop
    Machine m({0x90, 0xf3, 0xa4, 0x90});
    m.cpu().gpr[RCX] = 4;
    m.cpu().gpr[RSI] = kData;
    m.cpu().gpr[RDI] = kData + 0x100;
    std::memcpy(m.ram.host(kData, 4), "abcd", 4);

    // Between two instructions: RF as it is.
    REQUIRE(m.run(1) == StopReason::ReachedTarget);
    REQUIRE(m.cpu().rip == kCode + 1);
    m.interpreter->deliver_external_interrupt(kInterruptVector);
    REQUIRE(m.cpu().rip == handler(kInterruptVector));
    CHECK(m.frame_rip(false) == kCode + 1);
    CHECK(m.frame_rflags(false) == 0x202);
    REQUIRE(m.run(2) == StopReason::ReachedTarget); // iretq
    REQUIRE(m.cpu().rip == kCode + 1);
    CHECK(m.cpu().rflags == 0x202);

    // After two of the four iterations: RF = 1, and RIP on the REP MOVSB.
    REQUIRE(m.run(4) == StopReason::ReachedTarget);
    REQUIRE(m.cpu().rip == kCode + 1);
    REQUIRE(m.cpu().gpr[RCX] == 2);
    m.interpreter->deliver_external_interrupt(kInterruptVector);
    REQUIRE(m.cpu().rip == handler(kInterruptVector));
    CHECK(m.frame_rip(false) == kCode + 1);
    CHECK(m.frame_rflags(false) == (0x202 | kRf));
    CHECK((m.cpu().rflags & kRf) == 0);

    // IRETQ resumes the string instruction with RF set; it finishes the
    // copy and clears RF as it completes.
    REQUIRE(m.run(5) == StopReason::ReachedTarget);
    REQUIRE(m.cpu().rip == kCode + 1);
    CHECK((m.cpu().rflags & kRf) != 0);
    REQUIRE(m.run(7) == StopReason::ReachedTarget);
    CHECK(m.cpu().rip == kCode + 3);
    CHECK(m.cpu().gpr[RCX] == 0);
    CHECK(std::memcmp(m.ram.host(kData + 0x100, 4), "abcd", 4) == 0);
    CHECK(m.cpu().rflags == 0x202);

    // After the last iteration the instruction is done: RF as it is again.
    m.interpreter->deliver_external_interrupt(kInterruptVector);
    CHECK(m.frame_rip(false) == kCode + 3);
    CHECK(m.frame_rflags(false) == 0x202);
}

TEST_CASE("INT3 and INT n push RF as it is") {
    for (uint8_t vector : {uint8_t{kBreakpoint}, uint8_t{0x80}}) {
        CAPTURE(int(vector));
        Machine m(vector == kBreakpoint ? std::initializer_list<uint8_t>{0xcc}
                                        : std::initializer_list<uint8_t>{0xcd, 0x80});
        REQUIRE(m.run(1) == StopReason::ReachedTarget);
        REQUIRE(m.cpu().rip == handler(vector));
        CHECK(m.frame_rip(false) == kCode + (vector == kBreakpoint ? 1 : 2)); // traps
        CHECK(m.frame_rflags(false) == 0x202);
    }
}

// Not RF, but the same CPL-0 machine: a recording made on PVM, whose guest
// kernel mode is KVM's instruction emulator, has ROL/ROR by an immediate
// write OF as the CL form does (docs/kvm.md); the CPU, and krr otherwise,
// leave OF alone for an immediate count other than one.
TEST_CASE("ROR by an immediate at CPL 0: OF kept, or written for a PVM recording") {
    // ror esi, 8; nop -- esi = 0x81: the CL form's OF is the first one-bit
    // step's (alu/rotate.h), bit 31 xor bit 0 of the operand: 1.
    for (bool pvm : {false, true}) {
        Machine m({0xc1, 0xce, 0x08, 0x90});
        m.interpreter->kernel_rotates_write_overflow = pvm;
        m.cpu().gpr[RSI] = 0x81;
        m.cpu().rflags = 0x202; // OF clear
        REQUIRE(m.run(1) == StopReason::ReachedTarget);
        CHECK(m.cpu().gpr[RSI] == 0x81000000);
        CHECK(((m.cpu().rflags >> 11) & 1) == (pvm ? 1u : 0u));
    }
}
