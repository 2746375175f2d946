// RunControl: breakpoints, watchpoints and stops after exception deliveries,
// on small hand-assembled programs run at CPL 0 and at CPL 3.
#include "guest-model/cpuid_table.h"
#include "replay-engine/interpreter/interpreter.h"
#include "replay-engine/system/descriptor_tables.h"

#include <cstring>
#include <doctest/doctest.h>
#include <initializer_list>
#include <memory>
#include <vector>

using namespace krr;

namespace {

constexpr uint64_t P = 1, RW = 2, US = 4, PS = 0x80;
constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000;
constexpr uint64_t kGdt = 0x10000, kIdt = 0x11000, kTss = 0x12000, kLanding = 0x20000;
constexpr uint64_t kKernelStack = 0x80000, kRsp0 = 0x90000;
// User pages, identity mapped from 2 MiB; the fourth is absent.
constexpr uint64_t kCode = 0x200000, kData = 0x201000, kWatched = 0x202000, kAbsent = 0x203000,
                   kUserStackTop = 0x206000;

uint64_t handler(uint8_t vector) {
    return kLanding + vector * 16ULL;
}

// Hand assembly: each emitter returns the address of the instruction.
struct Program {
    std::vector<uint8_t> bytes;
    uint64_t emit(std::initializer_list<uint8_t> b) {
        uint64_t at = kCode + bytes.size();
        bytes.insert(bytes.end(), b);
        return at;
    }
    uint64_t emit_imm32(std::initializer_list<uint8_t> opcode, uint32_t imm) {
        uint64_t at = emit(opcode);
        for (int i = 0; i < 4; ++i) {
            bytes.push_back(static_cast<uint8_t>(imm >> (8 * i)));
        }
        return at;
    }
    uint64_t mov_eax(uint32_t v) { return emit_imm32({0xb8}, v); }
    uint64_t mov_ecx(uint32_t v) { return emit_imm32({0xb9}, v); }
    uint64_t mov_esi(uint32_t v) { return emit_imm32({0xbe}, v); }
    uint64_t mov_edi(uint32_t v) { return emit_imm32({0xbf}, v); }
    uint64_t mov_rax_sign_extended(int32_t v) {
        return emit_imm32({0x48, 0xc7, 0xc0}, static_cast<uint32_t>(v));
    }
    uint64_t inc_eax() { return emit({0xff, 0xc0}); }
    uint64_t nop() { return emit({0x90}); }
    uint64_t store_rax_to_rdi() { return emit({0x48, 0x89, 0x07}); }
    uint64_t store_rax_to_rdi_plus_8() { return emit({0x48, 0x89, 0x47, 0x08}); }
    uint64_t store_al_to_rdi() { return emit({0x88, 0x07}); }
    uint64_t load_rax_from_rdi_plus_8() { return emit({0x48, 0x8b, 0x47, 0x08}); }
    uint64_t rep_movsb() { return emit({0xf3, 0xa4}); }
    uint64_t jmp_to_self() { return emit({0xeb, 0xfe}); }
};

class NoDevices : public CpuEnvironment {
public:
    uint64_t io_read(uint16_t, int) override { return ~0ULL; }
    void io_write(uint16_t, int, uint64_t) override {}
    uint64_t virtual_tsc(uint64_t instructions) override { return instructions; }
    uint64_t mmio_read(uint64_t, int) override { return ~0ULL; }
    void mmio_write(uint64_t, int, uint64_t) override {}
};

// Long mode with 4-level paging: the first 2 MiB supervisor only (tables,
// GDT, IDT, TSS, handlers, kernel stack), the next pages user read/write.
// Every IDT vector lands on its own HLT, so a delivery is seen by RIP and
// the run halts right after it. The program runs at CPL 3 or CPL 0; the
// rest of its page is NOPs, so a run may go on past its end.
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

    Machine(const Program& program, bool user) {
        put(kPml4, kPdpt | P | RW | US);
        put(kPdpt, kPd | P | RW | US);
        put(kPd, 0 | P | RW | PS);
        put(kPd + 8, kPt | P | RW | US);
        for (uint64_t page = kCode; page < kUserStackTop; page += 4096) {
            if (page != kAbsent) {
                put(kPt + ((page >> 12) & 511) * 8, page | P | RW | US);
            }
        }
        put(kGdt + 0x10, 0x00af9b000000ffffULL);
        put(kGdt + 0x18, 0x00cf93000000ffffULL);
        put(kGdt + 0x28, 0x00cff3000000ffffULL);
        put(kGdt + 0x30, 0x00affb000000ffffULL);
        put(kGdt + 0x40, 0x0000890000000067ULL | ((kTss & 0xffffff) << 16));
        put(kTss + 4, kRsp0);
        std::memset(ram.host(kLanding, 256 * 16), 0xf4, 256 * 16);
        for (uint64_t v = 0; v < 256; ++v) {
            uint64_t h = handler(static_cast<uint8_t>(v));
            put(kIdt + v * 16, (h & 0xffff) | (0x10ULL << 16) | (0xeULL << 40) | (1ULL << 47) |
                                   (((h >> 16) & 0xffff) << 48));
            put(kIdt + v * 16 + 8, 0);
        }
        std::memset(ram.host(kCode, 4096), 0x90, 4096);
        std::memcpy(ram.host(kCode, program.bytes.size()), program.bytes.data(),
                    program.bytes.size());

        CpuState& c = vcpu.cpu;
        c.gdtr = {kGdt, 0x4f};
        c.idtr = {kIdt, 0xfff};
        c.tr = unpack_descriptor(0x0000890000000067ULL | ((kTss & 0xffffff) << 16), 0, true);
        c.tr.selector = 0x40;
        c.tr.type = 11;
        c.cr0 = 0x80050033;
        c.cr3 = kPml4;
        c.cr4 = 0x6a0;
        c.msr.efer = 0xd01;
        const uint64_t code = user ? 0x00affb000000ffffULL : 0x00af9b000000ffffULL;
        const uint64_t data = user ? 0x00cff3000000ffffULL : 0x00cf93000000ffffULL;
        c.seg[CS] = unpack_descriptor(code, 0, false);
        c.seg[CS].selector = user ? 0x33 : 0x10;
        for (SegmentIndex s : {SS, DS, ES}) {
            c.seg[s] = unpack_descriptor(data, 0, false);
            c.seg[s].selector = user ? 0x2b : 0x18;
        }
        c.seg[FS].unusable = c.seg[GS].unusable = 1;
        c.gpr[RSP] = user ? kUserStackTop : kKernelStack;
        c.rflags = 0x202;
        c.rip = kCode;
        interpreter = std::make_unique<Interpreter>(vcpu, ram, devices, cpuid);
    }

    CpuState& cpu() { return vcpu.cpu; }
    uint64_t count() const { return vcpu.instructions_retired; }
    StopReason run(uint64_t target, const RunControl& control) {
        return interpreter->run(target, control);
    }
};

} // namespace

TEST_CASE("a breakpoint stops before its instruction, with the count of what ran before it") {
    for (bool user : {false, true}) {
        CAPTURE(user);
        Program p;
        const uint64_t first = p.mov_eax(1);
        (void)p.inc_eax();
        const uint64_t third = p.inc_eax();
        const uint64_t fourth = p.inc_eax();
        p.nop();
        const uint64_t sixth = p.nop();
        Machine m(p, user);
        const std::vector<uint64_t> breakpoints{third, fourth, sixth};

        RunControl control{.breakpoints = &breakpoints};
        REQUIRE(m.run(100, control) == StopReason::Breakpoint);
        CHECK(m.cpu().rip == third);
        CHECK(m.count() == 2);
        CHECK(m.cpu().gpr[RAX] == 2); // the instruction at the breakpoint has not run
        CHECK(m.interpreter->last_retired_rip() == Interpreter::kNoRip); // not a REP iteration;

        // Without the skip, the same breakpoint stops again at once.
        REQUIRE(m.run(100, control) == StopReason::Breakpoint);
        CHECK(m.cpu().rip == third);
        CHECK(m.count() == 2);

        // With it, only the first instruction is skipped: the next
        // breakpoint, one instruction on, stops.
        control.skip_breakpoint_at_start = true;
        REQUIRE(m.run(100, control) == StopReason::Breakpoint);
        CHECK(m.cpu().rip == fourth);
        CHECK(m.count() == 3);
        CHECK(m.cpu().gpr[RAX] == 3);

        // The target comes before the next breakpoint.
        CHECK(m.run(4, control) == StopReason::ReachedTarget);
        CHECK(m.count() == 4);
        CHECK(m.cpu().gpr[RAX] == 4);
        REQUIRE(m.run(100, control) == StopReason::Breakpoint);
        CHECK(m.cpu().rip == sixth);
        CHECK(m.count() == 5);
        (void)first;
    }
}

TEST_CASE("a breakpoint on the first instruction stops before anything runs") {
    Program p;
    const uint64_t first = p.nop();
    p.nop();
    Machine m(p, true);
    const std::vector<uint64_t> breakpoints{first};
    CHECK(m.run(10, RunControl{.breakpoints = &breakpoints}) == StopReason::Breakpoint);
    CHECK(m.count() == 0);
    CHECK(m.cpu().rip == first);
    CHECK(m.run(10, RunControl{.breakpoints = &breakpoints, .skip_breakpoint_at_start = true}) ==
          StopReason::ReachedTarget);
    CHECK(m.count() == 10);
}

TEST_CASE("a breakpoint on REP MOVSB stops once, before the first iteration") {
    for (bool user : {false, true}) {
        CAPTURE(user);
        Program p;
        p.mov_esi(static_cast<uint32_t>(kData));
        p.mov_edi(static_cast<uint32_t>(kData + 0x100));
        p.mov_ecx(5);
        const uint64_t rep = p.rep_movsb();
        const uint64_t after = p.nop();
        const uint8_t source[5] = {1, 2, 3, 4, 5};

        SUBCASE("stopped at the breakpoint, continued past it") {
            Machine m(p, user);
            std::memcpy(m.ram.host(kData, 5), source, 5);
            const std::vector<uint64_t> breakpoints{rep};
            REQUIRE(m.run(100, RunControl{.breakpoints = &breakpoints}) == StopReason::Breakpoint);
            CHECK(m.cpu().rip == rep);
            CHECK(m.count() == 3);
            CHECK(m.cpu().gpr[RCX] == 5);
            // Each iteration retires, and none of them stops again.
            CHECK(m.run(10, RunControl{.breakpoints = &breakpoints,
                                       .skip_breakpoint_at_start = true}) ==
                  StopReason::ReachedTarget);
            CHECK(m.count() == 10);
            CHECK(m.cpu().gpr[RCX] == 0);
            CHECK(m.cpu().rip == after + 2);
            CHECK(std::memcmp(m.ram.host(kData + 0x100, 5), source, 5) == 0);
        }
        SUBCASE("stopped inside the REP by the target, continued with the breakpoint armed") {
            Machine m(p, user);
            std::memcpy(m.ram.host(kData, 5), source, 5);
            REQUIRE(m.run(5, RunControl{}) == StopReason::ReachedTarget);
            CHECK(m.cpu().rip == rep);
            CHECK(m.cpu().gpr[RCX] == 3);
            // The next iteration is not a fresh arrival at the breakpoint.
            const std::vector<uint64_t> breakpoints{rep, after};
            REQUIRE(m.run(100, RunControl{.breakpoints = &breakpoints}) == StopReason::Breakpoint);
            CHECK(m.cpu().rip == after);
            CHECK(m.count() == 8);
            CHECK(m.cpu().gpr[RCX] == 0);
        }
    }
}

TEST_CASE("a breakpoint on a jump to itself stops on every pass") {
    // Each pass of a one-instruction loop (`jmp .`, `loop .`) is a new
    // instruction: RunControl exempts only REP iterations (the CPU's RF is
    // cleared after every completed instruction).
    Program p;
    p.nop();
    const uint64_t loop = p.jmp_to_self();
    Machine m(p, false);
    const std::vector<uint64_t> breakpoints{loop};
    REQUIRE(m.run(100, RunControl{.breakpoints = &breakpoints}) == StopReason::Breakpoint);
    CHECK(m.count() == 1);
    CHECK(m.run(100, RunControl{.breakpoints = &breakpoints, .skip_breakpoint_at_start = true}) ==
          StopReason::Breakpoint);
    CHECK(m.count() == 2);
    CHECK(m.cpu().rip == loop);
}

TEST_CASE("a watchpoint stops after the instruction that stored into the range") {
    for (bool user : {false, true}) {
        CAPTURE(user);
        Program p;
        p.mov_edi(static_cast<uint32_t>(kWatched + 0x100));
        p.load_rax_from_rdi_plus_8(); // a read: not a hit for a write watch
        p.mov_eax(0x11223344);
        (void)p.store_rax_to_rdi_plus_8();
        const uint64_t after = p.nop();
        Machine m(p, user);
        m.interpreter->memory().set_watch_ranges(
            {WatchRange{kWatched + 0x10c, 2, WatchKind::Write}});

        REQUIRE(m.run(100, RunControl{.watching = true}) == StopReason::Watchpoint);
        CHECK(m.cpu().rip == after);
        CHECK(m.count() == 4);
        CHECK(m.interpreter->last_retired_rip() == Interpreter::kNoRip); // not a REP iteration;
        CHECK(m.get(kWatched + 0x108) == 0x11223344);                    // the store completed
        REQUIRE(m.interpreter->memory().has_watch_hit());
        const WatchHit hit = m.interpreter->memory().take_watch_hit();
        CHECK(hit.address == kWatched + 0x10c);
        CHECK(hit.write);
        CHECK(hit.kind == WatchKind::Write);

        // Nothing else touches the range: the run goes on to its target.
        CHECK(m.run(10, RunControl{.watching = true}) == StopReason::ReachedTarget);
        CHECK(m.count() == 10);
    }
}

TEST_CASE("a read watchpoint stops after the load") {
    Program p;
    p.mov_edi(static_cast<uint32_t>(kWatched + 0x100));
    p.mov_eax(7);
    p.store_rax_to_rdi_plus_8(); // a write: not a hit for a read watch
    (void)p.load_rax_from_rdi_plus_8();
    Machine m(p, true);
    m.interpreter->memory().set_watch_ranges({WatchRange{kWatched + 0x108, 8, WatchKind::Read}});
    REQUIRE(m.run(100, RunControl{.watching = true}) == StopReason::Watchpoint);
    CHECK(m.count() == 4);
    CHECK(m.interpreter->last_retired_rip() == Interpreter::kNoRip); // not a REP iteration;
    CHECK(m.cpu().gpr[RAX] == 7);
    const WatchHit hit = m.interpreter->memory().take_watch_hit();
    CHECK(hit.address == kWatched + 0x108);
    CHECK_FALSE(hit.write);
}

TEST_CASE("a store that faults on its second page is not a hit on the watched first page") {
    for (bool user : {false, true}) {
        CAPTURE(user);
        Program p;
        p.mov_edi(static_cast<uint32_t>(kAbsent - 4));
        p.mov_rax_sign_extended(-1);
        const uint64_t store = p.store_rax_to_rdi(); // 4 bytes watched, 4 absent
        Machine m(p, user);
        m.interpreter->memory().set_watch_ranges({WatchRange{kAbsent - 8, 8, WatchKind::Write}});

        // The #PF is delivered and its handler's HLT runs: no watchpoint.
        CHECK(m.run(100, RunControl{.watching = true}) == StopReason::Halted);
        CHECK_FALSE(m.interpreter->memory().has_watch_hit());
        CHECK(m.cpu().cr2 == kAbsent);
        CHECK(m.cpu().rip == handler(kPageFault) + 1);
        CHECK(m.count() == 3);
        CHECK(m.get(kAbsent - 8) == 0); // nothing was written
        // The exception frame holds the faulting store's RIP.
        CHECK(m.get(m.cpu().gpr[RSP] + 8) == store);
    }
}

TEST_CASE("stop_after_deliveries stops right after a #PF is delivered, at the handler") {
    for (bool user : {false, true}) {
        CAPTURE(user);
        Program p;
        const uint64_t first = p.mov_edi(static_cast<uint32_t>(kAbsent + 0x10));
        (void)p.nop();
        const uint64_t store = p.store_al_to_rdi();
        (void)first;

        SUBCASE("one delivery") {
            Machine m(p, user);
            REQUIRE(m.run(2, RunControl{.stop_after_deliveries = 1}) == StopReason::ReachedTarget);
            CHECK(m.interpreter->last_retired_rip() == Interpreter::kNoRip); // not a REP iteration;
            CHECK(m.interpreter->deliveries_since_retire() == 0);

            REQUIRE(m.run(100, RunControl{.stop_after_deliveries = 1}) == StopReason::Delivered);
            CHECK(m.cpu().rip == handler(kPageFault));
            CHECK(m.cpu().seg[CS].selector == 0x10);
            CHECK(m.cpu().cr2 == kAbsent + 0x10);
            CHECK(m.count() == 2); // the faulting store did not retire
            CHECK(m.interpreter->deliveries_since_retire() == 1);
            CHECK(m.interpreter->last_retired_rip() == Interpreter::kNoRip);
            CHECK(m.get(m.cpu().gpr[RSP] + 8) == store);
            if (user) {
                CHECK(m.cpu().gpr[RSP] == kRsp0 - 6 * 8); // switched to RSP0
            }

            // The handler's HLT is the next instruction to retire.
            CHECK(m.run(100, RunControl{}) == StopReason::Halted);
            CHECK(m.count() == 3);
            CHECK(m.interpreter->deliveries_since_retire() == 0);
            CHECK(m.interpreter->last_retired_rip() == Interpreter::kNoRip); // not a REP iteration;
        }
        SUBCASE("waiting for two deliveries, one does not stop") {
            Machine m(p, user);
            CHECK(m.run(100, RunControl{.stop_after_deliveries = 2}) == StopReason::Halted);
            CHECK(m.count() == 3);
            CHECK(m.cpu().rip == handler(kPageFault) + 1);
        }
        SUBCASE("a watch on the faulting store's address: no hit, the delivery still stops") {
            Machine m(p, user);
            m.interpreter->memory().set_watch_ranges(
                {WatchRange{kAbsent + 0x10, 1, WatchKind::Write}});
            REQUIRE(m.run(100, RunControl{.watching = true, .stop_after_deliveries = 1}) ==
                    StopReason::Delivered);
            CHECK(m.cpu().rip == handler(kPageFault));
            CHECK_FALSE(m.interpreter->memory().has_watch_hit());
        }
    }
}

TEST_CASE("a watched stack written by an exception delivery stops after the delivery") {
    Program p;
    p.mov_edi(static_cast<uint32_t>(kAbsent));
    const uint64_t store = p.store_al_to_rdi();
    Machine m(p, false);
    // The #PF frame at CPL 0: error code, RIP, CS, RFLAGS, RSP, SS below the
    // old RSP. Watch the saved RIP (in the 2 MiB supervisor page).
    m.interpreter->memory().set_watch_ranges(
        {WatchRange{kKernelStack - 5 * 8, 8, WatchKind::Write}});
    REQUIRE(m.run(100, RunControl{.watching = true}) == StopReason::Watchpoint);
    CHECK(m.cpu().rip == handler(kPageFault));
    CHECK(m.count() == 1);
    CHECK(m.interpreter->deliveries_since_retire() == 1);
    CHECK(m.get(kKernelStack - 5 * 8) == store);
    const WatchHit hit = m.interpreter->memory().take_watch_hit();
    CHECK(hit.address == kKernelStack - 5 * 8);
    CHECK(hit.write);
}
