// 16- and 32-bit execution: a CPU started the way a STARTUP IPI starts one
// (real mode, CS = vector << 8) runs a hand-assembled copy of what Linux's
// trampoline does (arch/x86/realmode/rm/trampoline_64.S): far jump, segment
// loads, a call and return on a 16-bit stack, PUSHF/POPF, CPUID, LIDT/LGDT
// with 32-bit operands, CR0.PE, a far jump to 32-bit code, PAE, CR3,
// EFER.LME through RDMSR/WRMSR, CR0.PG and a far jump into 64-bit code. The
// expected state is worked out from the SDM by hand.
#include "guest-model/cpuid_table.h"
#include "replay-engine/interpreter/interpreter.h"
#include "replay-engine/system/descriptor_tables.h"

#include <cstring>
#include <doctest/doctest.h>
#include <initializer_list>
#include <memory>

using namespace krr;

namespace {

constexpr uint64_t kVector = 0x9a;
constexpr uint64_t kBase = kVector << 12; // 0x9a000
constexpr uint64_t kGdt = kBase + 0x200, kStartup32 = kBase + 0x300, kStartup64 = kBase + 0x400;
constexpr uint64_t kPml4 = 0xa0000, kPdpt = 0xa1000, kPd = 0xa2000;

class NoDevices : public CpuEnvironment {
public:
    uint64_t io_read(uint16_t, int) override { return ~0ULL; }
    void io_write(uint16_t, int, uint64_t) override {}
    uint64_t virtual_tsc(uint64_t instructions) override { return instructions; }
    uint64_t mmio_read(uint64_t, int) override { return ~0ULL; }
    void mmio_write(uint64_t, int, uint64_t) override {}
};

struct StartedCpu {
    GuestMemory ram{4 << 20};
    NoDevices devices;
    CpuidTable cpuid = default_cpuid_table();
    VcpuState vcpu{};
    std::unique_ptr<Interpreter> interpreter;

    void put(uint64_t at, std::initializer_list<uint8_t> bytes) {
        std::memcpy(ram.host(at, bytes.size()), bytes.begin(), bytes.size());
    }
    void put64(uint64_t at, uint64_t v) { std::memcpy(ram.host(at, 8), &v, 8); }
    uint64_t get(uint64_t at, size_t size) {
        uint64_t v = 0;
        std::memcpy(&v, ram.host(at, size), size);
        return v;
    }

    // The state INIT and STARTUP leave (SDM vol. 3, 9.1.1 and 10.4.4).
    StartedCpu() {
        CpuState& c = vcpu.cpu;
        for (Segment& s : c.seg) {
            s = Segment{};
            s.limit = 0xffff;
            s.type = 3;
            s.s = 1;
            s.present = 1;
        }
        c.seg[CS].selector = static_cast<uint16_t>(kVector << 8);
        c.seg[CS].base = kBase;
        c.seg[CS].type = 0xb;
        c.gdtr = {0, 0xffff};
        c.idtr = {0, 0xffff};
        c.cr0 = 0x60000010;
        c.rflags = 2;
        c.rip = 0;
    }
    void start() { interpreter = std::make_unique<Interpreter>(vcpu, ram, devices, cpuid); }
};

} // namespace

TEST_CASE("a CPU started in real mode reaches 64-bit code the way Linux's trampoline does") {
    StartedCpu m;
    // 16-bit code at the vector's page, offsets from its start.
    m.put(kBase + 0, {0xfa});                                            // cli
    m.put(kBase + 1, {0x0f, 0x09});                                      // wbinvd
    m.put(kBase + 3, {0xea, 0x08, 0x00, 0x00, 0x9a});                    // ljmp 0x9a00:0x0008
    m.put(kBase + 8, {0x8c, 0xc8});                                      // mov ax, cs
    m.put(kBase + 10, {0x8e, 0xd8});                                     // mov ds, ax
    m.put(kBase + 12, {0x8e, 0xc0});                                     // mov es, ax
    m.put(kBase + 14, {0x8e, 0xd0});                                     // mov ss, ax
    m.put(kBase + 16, {0x66, 0xbc, 0x00, 0x10, 0x00, 0x00});             // mov esp, 0x1000
    m.put(kBase + 22, {0xe8, 65 - 25, 0x00});                            // call 65 (verify)
    m.put(kBase + 25, {0x66, 0x85, 0xc0});                               // test eax, eax
    m.put(kBase + 28, {0x75, 62 - 30});                                  // jnz 62
    m.put(kBase + 30, {0x66, 0x0f, 0x01, 0x1e, 0x00, 0x01});             // lidtl [0x100]
    m.put(kBase + 36, {0x66, 0x0f, 0x01, 0x16, 0x08, 0x01});             // lgdtl [0x108]
    m.put(kBase + 42, {0xba, 0x18, 0x00});                               // mov dx, 0x18
    m.put(kBase + 45, {0x66, 0xb8, 0x11, 0x00, 0x00, 0x00});             // mov eax, PE|ET
    m.put(kBase + 51, {0x0f, 0x22, 0xc0});                               // mov cr0, eax
    m.put(kBase + 54, {0x66, 0xea, 0x00, 0xa3, 0x09, 0x00, 0x08, 0x00}); // ljmpl 0x08:0x9a300
    m.put(kBase + 62, {0xf4, 0xeb, 0xfd});                               // hlt; jmp 62
    // verify: flags saved and cleared, CPUID 0, EAX = 0 on success.
    m.put(kBase + 65, {0x9c});                               // pushf
    m.put(kBase + 66, {0x6a, 0x00});                         // push 0
    m.put(kBase + 68, {0x9d});                               // popf
    m.put(kBase + 69, {0x66, 0xb8, 0x00, 0x00, 0x00, 0x00}); // mov eax, 0
    m.put(kBase + 75, {0x0f, 0xa2});                         // cpuid
    m.put(kBase + 77, {0x66, 0x31, 0xc0});                   // xor eax, eax
    m.put(kBase + 80, {0x9d});                               // popf
    m.put(kBase + 81, {0xc3});                               // ret
    // tr_idt (limit 0, base 0) and tr_gdt (limit 0x1f, base kGdt).
    m.put(kBase + 0x100, {0, 0, 0, 0, 0, 0});
    m.put(kBase + 0x108, {0x1f, 0x00, 0x00, 0xa2, 0x09, 0x00});
    m.put64(kGdt + 0x08, 0x00cf9b000000ffffULL); // 32-bit code
    m.put64(kGdt + 0x10, 0x00af9b000000ffffULL); // 64-bit code
    m.put64(kGdt + 0x18, 0x00cf93000000ffffULL); // data
    // startup_32: flat segments, PAE, CR3, EFER.LME, paging, then 64-bit.
    m.put(kStartup32 + 0, {0x8e, 0xd2});                                // mov ss, edx
    m.put(kStartup32 + 2, {0x8e, 0xda});                                // mov ds, edx
    m.put(kStartup32 + 4, {0x0f, 0x20, 0xe0});                          // mov eax, cr4
    m.put(kStartup32 + 7, {0x0d, 0x20, 0x00, 0x00, 0x00});              // or eax, PAE
    m.put(kStartup32 + 12, {0x0f, 0x22, 0xe0});                         // mov cr4, eax
    m.put(kStartup32 + 15, {0xb8, 0x00, 0x00, 0x0a, 0x00});             // mov eax, kPml4
    m.put(kStartup32 + 20, {0x0f, 0x22, 0xd8});                         // mov cr3, eax
    m.put(kStartup32 + 23, {0xb9, 0x80, 0x00, 0x00, 0xc0});             // mov ecx, EFER
    m.put(kStartup32 + 28, {0x0f, 0x32});                               // rdmsr
    m.put(kStartup32 + 30, {0x0d, 0x00, 0x01, 0x00, 0x00});             // or eax, LME
    m.put(kStartup32 + 35, {0x0f, 0x30});                               // wrmsr
    m.put(kStartup32 + 37, {0xb8, 0x11, 0x00, 0x00, 0x80});             // mov eax, PG|ET|PE
    m.put(kStartup32 + 42, {0x0f, 0x22, 0xc0});                         // mov cr0, eax
    m.put(kStartup32 + 45, {0xea, 0x00, 0xa4, 0x09, 0x00, 0x10, 0x00}); // ljmp 0x10:0x9a400
    // startup_64.
    m.put(kStartup64 + 0, {0x48, 0xc7, 0xc0, 0x2a, 0x00, 0x00, 0x00});       // mov rax, 42
    m.put(kStartup64 + 7, {0x48, 0x8b, 0x1c, 0x25, 0x08, 0xa1, 0x09, 0x00}); // mov rbx, [0x9a108]
    m.put(kStartup64 + 15, {0xf4});                                          // hlt
    m.put64(kPml4, kPdpt | 3);
    m.put64(kPdpt, kPd | 3);
    m.put64(kPd, 0x83); // 2 MiB identity
    m.start();

    StopReason stop = m.interpreter->run(100);
    INFO("stopped: " << stop_reason_name(stop) << " " << m.interpreter->error());
    REQUIRE(stop == StopReason::Halted);
    const CpuState& c = m.vcpu.cpu;
    CHECK(c.rip == kStartup64 + 16);
    CHECK(c.gpr[RAX] == 42);
    // A 64-bit load through the identity map: tr_gdt's first 8 bytes.
    CHECK(c.gpr[RBX] == 0x00000009a200001fULL);
    CHECK(c.seg[CS].selector == 0x10);
    CHECK(c.seg[CS].l == 1);
    CHECK(c.seg[SS].selector == 0x18);
    CHECK(c.seg[DS].base == 0);
    CHECK(c.msr.efer == 0x500); // LME and LMA
    CHECK(c.cr0 == 0x80000011);
    CHECK(c.cr3 == kPml4);
    CHECK(c.cr4 == 0x20);
    CHECK(c.gdtr.base == kGdt);
    CHECK(c.gdtr.limit == 0x1f);
    CHECK(c.idtr.base == 0);
    CHECK(c.idtr.limit == 0);
    // The call pushed return offset 25 at SS:0x0ffe; verify's PUSHF saved
    // flags 2 and its POPF restored them.
    CHECK(m.get(kBase + 0xffe, 2) == 25);
    CHECK(m.get(kBase + 0xffc, 2) == 0x0002);
    CHECK((c.rflags & 0x200) == 0);
    CHECK((c.gpr[RSP] & 0xffff) == 0x1000);
    // 25 instructions in 16-bit code (the far jump out included), 14 in
    // 32-bit, 3 in 64-bit.
    CHECK(m.vcpu.instructions_retired == 25 + 14 + 3);
}

TEST_CASE("outside 64-bit mode, what is not implemented stops the CPU with a reason") {
    SUBCASE("#UD in real mode") {
        StartedCpu m;
        m.put(kBase, {0x0f, 0x0b}); // ud2
        m.start();
        CHECK(m.interpreter->run(10) == StopReason::Unimplemented);
        CHECK(m.interpreter->error().find("exception 6") != std::string::npos);
        CHECK(m.interpreter->error().find("outside 64-bit mode") != std::string::npos);
        CHECK(m.vcpu.cpu.rip == 0);
        CHECK(m.vcpu.instructions_retired == 0);
    }
    SUBCASE("#DE in real mode") {
        StartedCpu m;
        m.put(kBase, {0xf6, 0xf1}); // div cl, with cl = 0
        m.start();
        CHECK(m.interpreter->run(10) == StopReason::Unimplemented);
        CHECK(m.interpreter->error().find("exception 0 at RIP 0") != std::string::npos);
        CHECK(m.vcpu.instructions_retired == 0);
    }
    SUBCASE("a string instruction in 16-bit code") {
        StartedCpu m;
        m.put(kBase, {0x90, 0xa4}); // nop; movsb
        m.start();
        CHECK(m.interpreter->run(10) == StopReason::Unimplemented);
        CHECK(m.interpreter->error().find("not implemented in 16-bit mode") != std::string::npos);
        CHECK(m.vcpu.cpu.rip == 1);
        CHECK(m.vcpu.instructions_retired == 1);
    }
}
