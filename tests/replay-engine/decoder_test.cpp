// Hand-written encodings with their lengths and fields taken from the Intel
// SDM (vol. 2, chapter 2 and the instruction pages), not from the decoder.
#include "guest-model/machine_state.h"
#include "replay-engine/cpu/decoder.h"

#include <doctest/doctest.h>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

using namespace krr::cpu;

namespace {

DecodeResult decode_bytes(std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> v(bytes);
    return decode(v, CpuMode::Bits64);
}

DecodedInstruction decode_ok(std::initializer_list<uint8_t> bytes) {
    DecodeResult r = decode_bytes(bytes);
    INFO("decode error: " << r.error_text());
    REQUIRE(r.ok());
    return r.instruction;
}

std::string name(const DecodedInstruction& insn) {
    return std::string(mnemonic(insn));
}

} // namespace

TEST_CASE("REX.W, REX.R and REX.B extend the operand size and ModRM registers") {
    // 48 01 D8: add rax, rbx
    DecodedInstruction add = decode_ok({0x48, 0x01, 0xd8});
    CHECK(add.length == 3);
    CHECK(add.opcode == OpcodeId::ADD_EvGv);
    CHECK(add.operand_size == 64);
    CHECK(add.modrm.mod == 3);
    CHECK(add.modrm.reg == krr::RBX);
    CHECK(add.modrm.rm == krr::RAX);
    CHECK(add.operands[0].kind == OperandKind::Gpr);
    CHECK(add.operands[0].reg == krr::RAX);
    CHECK(add.operands[0].size == 8);

    // 4D 01 C8: add r8, r9 (REX.WRB)
    DecodedInstruction ext = decode_ok({0x4d, 0x01, 0xc8});
    CHECK(ext.modrm.reg == krr::R9);
    CHECK(ext.modrm.rm == krr::R8);
    CHECK(ext.rex == 0x4d);

    // 01 D8 without REX: add eax, ebx
    CHECK(decode_ok({0x01, 0xd8}).operand_size == 32);
}

TEST_CASE("SIB with REX.X, and the no-index and no-base forms") {
    // 4A 8B 04 C8: mov rax, [rax + r9*8]
    DecodedInstruction indexed = decode_ok({0x4a, 0x8b, 0x04, 0xc8});
    CHECK(indexed.length == 4);
    CHECK(indexed.has_sib);
    CHECK(indexed.sib.scale == 8);
    CHECK(indexed.sib.index == krr::R9);
    CHECK(indexed.sib.base == krr::RAX);
    CHECK(indexed.memory.displacement_size == 0);

    // 8B 04 25 78 56 34 12: mov eax, [0x12345678]: index 100b = none, base
    // 101b with mod=00 = none and a disp32, not RIP-relative.
    DecodedInstruction absolute = decode_ok({0x8b, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12});
    CHECK(absolute.length == 7);
    CHECK(absolute.sib.index == kNoRegister);
    CHECK(absolute.sib.base == kNoRegister);
    CHECK(absolute.memory.displacement == 0x12345678);
    CHECK_FALSE(absolute.memory.rip_relative);

    // 8B 44 24 F8: mov eax, [rsp - 8]: SS is the default segment for rSP.
    DecodedInstruction stack = decode_ok({0x8b, 0x44, 0x24, 0xf8});
    CHECK(stack.length == 4);
    CHECK(stack.memory.base == krr::RSP);
    CHECK(stack.memory.displacement == -8);
    CHECK(stack.memory.segment == krr::SS);

    // 42 8B 04 20: index 100b with REX.X is r12, not "no index".
    CHECK(decode_ok({0x42, 0x8b, 0x04, 0x20}).sib.index == krr::R12);
}

TEST_CASE("RIP-relative addressing and the missing 16-bit forms of 64-bit mode") {
    // 48 8B 05 10 00 00 00: mov rax, [rip + 0x10]
    DecodedInstruction rip = decode_ok({0x48, 0x8b, 0x05, 0x10, 0, 0, 0});
    CHECK(rip.length == 7);
    CHECK(rip.memory.rip_relative);
    CHECK(rip.memory.displacement == 0x10);
    CHECK(rip.memory.base == kNoRegister);

    // 67 8B 06: mov eax, [esi]. In 16-bit addressing rm=110 mod=00 would
    // take a disp16; 67 in 64-bit mode selects 32-bit addressing instead.
    DecodedInstruction esi = decode_ok({0x67, 0x8b, 0x06});
    CHECK(esi.length == 3);
    CHECK(esi.address_size == 32);
    CHECK(esi.memory.base == krr::RSI);
    CHECK(esi.memory.displacement_size == 0);

    // 67 8B 05 disp32: EIP-relative.
    DecodedInstruction eip = decode_ok({0x67, 0x8b, 0x05, 1, 0, 0, 0});
    CHECK(eip.length == 7);
    CHECK(eip.memory.rip_relative);
}

TEST_CASE("moffs forms carry a 64-bit address, 32-bit with 67") {
    // 48 A1 + 8 bytes: mov rax, [0x1122334455667788]
    DecodedInstruction wide =
        decode_ok({0x48, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11});
    CHECK(wide.length == 10);
    CHECK(wide.memory.displacement == 0x1122334455667788);
    CHECK(wide.memory.displacement_size == 8);
    CHECK(name(wide) == "mov");
    CHECK(wide.immediate_count == 0);

    // 67 A0 + 4 bytes: mov al, [0x11223344]
    DecodedInstruction narrow = decode_ok({0x67, 0xa0, 0x44, 0x33, 0x22, 0x11});
    CHECK(narrow.length == 6);
    CHECK(narrow.memory.displacement == 0x11223344);

    // 64 A2 + 8 bytes: mov fs:[moffs], al
    CHECK(decode_ok({0x64, 0xa2, 1, 2, 3, 4, 5, 6, 7, 8}).memory.segment == krr::FS);
}

TEST_CASE("immediates: imm64 MOV, ENTER's two, 66-prefixed and sign-extended ones") {
    // 48 B8 imm64: mov rax, 0x0123456789abcdef
    DecodedInstruction imm64 =
        decode_ok({0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01});
    CHECK(imm64.length == 10);
    CHECK(imm64.immediate_size[0] == 8);
    CHECK(imm64.immediate[0] == 0x0123456789abcdefULL);

    // 41 B8 imm32: mov r8d, 1
    DecodedInstruction r8d = decode_ok({0x41, 0xb8, 1, 0, 0, 0});
    CHECK(r8d.length == 6);
    CHECK(r8d.operands[0].reg == krr::R8);
    CHECK(r8d.operands[0].size == 4);

    // C8 10 00 01: enter 16, 1
    DecodedInstruction enter = decode_ok({0xc8, 0x10, 0x00, 0x01});
    CHECK(enter.length == 4);
    CHECK(enter.immediate_count == 2);
    CHECK(enter.immediate_size[0] == 2);
    CHECK(enter.immediate[0] == 16);
    CHECK(enter.immediate_size[1] == 1);
    CHECK(enter.immediate[1] == 1);

    // 66 05 34 12: add ax, 0x1234 (Iz is 16 bits with 66)
    DecodedInstruction ax = decode_ok({0x66, 0x05, 0x34, 0x12});
    CHECK(ax.length == 4);
    CHECK(ax.operand_size == 16);
    CHECK(ax.immediate_size[0] == 2);

    // 66 81 C3 34 12: add bx, 0x1234
    CHECK(decode_ok({0x66, 0x81, 0xc3, 0x34, 0x12}).length == 5);
    // 66 68 34 12: push 0x1234 (16-bit push)
    DecodedInstruction push16 = decode_ok({0x66, 0x68, 0x34, 0x12});
    CHECK(push16.length == 4);
    CHECK(push16.operand_size == 16);
    // 68 imm32: push, 64-bit operand size by default
    CHECK(decode_ok({0x68, 1, 2, 3, 4}).operand_size == 64);

    // 48 81 C3 FF FF FF FF: add rbx, -1 (imm32 sign-extended to 64 bits)
    DecodedInstruction minus_one = decode_ok({0x48, 0x81, 0xc3, 0xff, 0xff, 0xff, 0xff});
    CHECK(minus_one.length == 7);
    CHECK(minus_one.immediate[0] == 0xffffffffffffffffULL);
    // 83 C0 80: add eax, -128 (Ibs)
    CHECK(decode_ok({0x83, 0xc0, 0x80}).immediate[0] == 0xffffffffffffff80ULL);
    // 80 C0 80: add al, 0x80 (Ib, not sign-extended)
    CHECK(decode_ok({0x80, 0xc0, 0x80}).immediate[0] == 0x80);
}

TEST_CASE("F2/F3/66 as SSE mandatory prefixes") {
    CHECK(name(decode_ok({0x0f, 0x58, 0xc1})) == "addps");
    DecodedInstruction addpd = decode_ok({0x66, 0x0f, 0x58, 0xc1});
    CHECK(name(addpd) == "addpd");
    CHECK(addpd.mandatory_prefix == MandatoryPrefix::P66);
    CHECK(addpd.operand_size == 32); // the 66 is not a size override here
    DecodedInstruction addss = decode_ok({0xf3, 0x0f, 0x58, 0xc1});
    CHECK(name(addss) == "addss");
    CHECK_FALSE(addss.repeats());
    CHECK(name(decode_ok({0xf2, 0x0f, 0x58, 0xc1})) == "addsd");

    CHECK(name(decode_ok({0x0f, 0x6f, 0x00})) == "movq");
    CHECK(name(decode_ok({0x66, 0x0f, 0x6f, 0x00})) == "movdqa");
    CHECK(name(decode_ok({0xf3, 0x0f, 0x6f, 0x00})) == "movdqu");
    // F2 0F 6F does not exist.
    CHECK(decode_bytes({0xf2, 0x0f, 0x6f, 0x00}).status == DecodeStatus::InvalidOpcode);

    // 66 F3 0F B8 C0: popcnt ax, ax: F3 is mandatory, 66 still sizes.
    DecodedInstruction popcnt = decode_ok({0x66, 0xf3, 0x0f, 0xb8, 0xc0});
    CHECK(name(popcnt) == "popcnt");
    CHECK(popcnt.operand_size == 16);
    CHECK_FALSE(popcnt.supported);

    // 66 48 0F 7E C0: movq rax, xmm0 (66 mandatory, REX.W after it)
    DecodedInstruction movq = decode_ok({0x66, 0x48, 0x0f, 0x7e, 0xc0});
    CHECK(movq.length == 5);
    CHECK(name(movq) == "movq");
    CHECK(movq.operands[0].kind == OperandKind::Gpr);
    CHECK(movq.operands[1].kind == OperandKind::Xmm);

    // F3 90 is PAUSE, 90 NOP, 41 90 xchg r8d, eax.
    CHECK(decode_ok({0xf3, 0x90}).opcode == OpcodeId::PAUSE);
    CHECK(decode_ok({0x90}).opcode == OpcodeId::NOP);
    DecodedInstruction xchg = decode_ok({0x41, 0x90});
    CHECK(xchg.opcode == OpcodeId::XCHG_ZvrAX);
    CHECK(xchg.operands[0].reg == krr::R8);
}

TEST_CASE("LOCK is valid only on lockable instructions with a memory destination") {
    DecodedInstruction locked = decode_ok({0xf0, 0x01, 0x18}); // lock add [rax], ebx
    CHECK(locked.prefixes.lock);
    CHECK(locked.length == 3);
    CHECK(decode_bytes({0xf0, 0x01, 0xd8}).status == DecodeStatus::InvalidOpcode); // reg dest
    CHECK(decode_bytes({0xf0, 0x8b, 0x00}).status == DecodeStatus::InvalidOpcode); // mov
    CHECK(decode_bytes({0xf0, 0x90}).status == DecodeStatus::InvalidOpcode);
    CHECK(decode_bytes({0xf0, 0x38, 0x00}).status == DecodeStatus::InvalidOpcode); // cmp
    CHECK(decode_ok({0xf0, 0x0f, 0xc1, 0x03}).opcode == OpcodeId::XADD_EvGv);
    CHECK(name(decode_ok({0xf0, 0x0f, 0xc7, 0x0e})) == "cmpxchg8b");
    CHECK(name(decode_ok({0xf0, 0x48, 0x0f, 0xc7, 0x0e})) == "cmpxchg16b");
    CHECK(decode_ok({0xf0, 0x0f, 0xba, 0x28, 0x03}).opcode == OpcodeId::BTS_EvIb);
    CHECK(decode_bytes({0xf0, 0x0f, 0xba, 0x20, 0x03}).status ==
          DecodeStatus::InvalidOpcode); // bt is not lockable
}

TEST_CASE("undefined-instruction opcodes decode as themselves; removed opcodes are #UD") {
    DecodedInstruction ud2 = decode_ok({0x0f, 0x0b});
    CHECK(ud2.opcode == OpcodeId::UD2);
    CHECK(ud2.length == 2);
    // UD1 and UD0 take a ModRM (0F B9 CC is the kernel's static-call marker).
    CHECK(decode_ok({0x0f, 0xb9, 0xcc}).length == 3);
    CHECK(decode_ok({0x0f, 0xff, 0xc0}).length == 3);
    for (uint8_t removed :
         {0x06, 0x07, 0x0e, 0x1e, 0x27, 0x37, 0x60, 0x9a, 0xce, 0xd4, 0xd6, 0xea}) {
        CAPTURE(removed);
        CHECK(decode_bytes({removed, 0, 0, 0, 0, 0, 0}).status == DecodeStatus::InvalidOpcode);
    }
    CHECK(decode_bytes({0x8e, 0xc8}).status == DecodeStatus::InvalidOpcode); // mov cs, ax
}

TEST_CASE("truncation at every prefix of a long instruction, and the 15-byte limit") {
    // lock add qword gs:[rax + rcx*8 + 0x12345678], 0xdeadbeef: 14 bytes
    const std::vector<uint8_t> full = {0xf0, 0x65, 0x48, 0x81, 0x84, 0xc8, 0x78,
                                       0x56, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde};
    DecodeResult whole = decode(full, CpuMode::Bits64);
    REQUIRE(whole.ok());
    CHECK(whole.instruction.length == 14);
    CHECK(whole.instruction.memory.segment == krr::GS);
    CHECK(whole.instruction.memory.displacement == 0x12345678);
    CHECK(whole.instruction.immediate[0] == 0xffffffffdeadbeefULL);
    for (size_t n = 0; n < full.size(); ++n) {
        CAPTURE(n);
        DecodeResult part = decode(std::span<const uint8_t>(full.data(), n), CpuMode::Bits64);
        CHECK(part.status == DecodeStatus::Truncated);
    }

    std::vector<uint8_t> fourteen_prefixes(14, 0x66);
    fourteen_prefixes.push_back(0x90);
    DecodeResult fifteen = decode(fourteen_prefixes, CpuMode::Bits64);
    REQUIRE(fifteen.ok());
    CHECK(fifteen.instruction.length == 15);
    std::vector<uint8_t> fifteen_prefixes(15, 0x66);
    fifteen_prefixes.push_back(0x90);
    CHECK(decode(fifteen_prefixes, CpuMode::Bits64).status == DecodeStatus::TooLong);
    // 66 x 11 + 48 B8 imm64 runs past 15 bytes however many bytes follow.
    const std::vector<uint8_t> long_mov = {0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                                           0x66, 0x66, 0x66, 0x66, 0x48, 0xb8, 1,
                                           2,    3,    4,    5,    6,    7,    8};
    CHECK(decode(long_mov, CpuMode::Bits64).status == DecodeStatus::TooLong);
}

TEST_CASE("branches: relative offsets are sign-extended; 64-bit operand size") {
    // 0F 84 FA FF FF FF: je $-6 (rel32)
    DecodedInstruction je = decode_ok({0x0f, 0x84, 0xfa, 0xff, 0xff, 0xff});
    CHECK(je.length == 6);
    CHECK(name(je) == "je");
    CHECK(je.operands[0].kind == OperandKind::Relative);
    CHECK(static_cast<int64_t>(je.immediate[0]) == -6);
    // 66 E8 rel32: Intel CPUs ignore 66 on near branches in 64-bit mode.
    CHECK(decode_ok({0x66, 0xe8, 0, 0, 0, 0}).length == 6);
    // EB FE: jmp $
    CHECK(static_cast<int64_t>(decode_ok({0xeb, 0xfe}).immediate[0]) == -2);
    // FF 14 25 disp32: call [abs]
    DecodedInstruction call = decode_ok({0xff, 0x14, 0x25, 0, 0x10, 0, 0});
    CHECK(call.opcode == OpcodeId::CALL_Ev);
    CHECK(call.operand_size == 64);
    // E3 FE / 67 E3 FE: jrcxz / jecxz
    CHECK(name(decode_ok({0xe3, 0xfe})) == "jrcxz");
    CHECK(name(decode_ok({0x67, 0xe3, 0xfe})) == "jecxz");
}

TEST_CASE("byte registers: AH..BH without REX, SPL..DIL with it") {
    DecodedInstruction high = decode_ok({0x88, 0xe0}); // mov al, ah
    CHECK(high.operands[0].kind == OperandKind::Gpr);
    CHECK(high.operands[0].reg == krr::RAX);
    CHECK(high.operands[1].kind == OperandKind::GprHighByte);
    CHECK(high.operands[1].reg == 0);
    DecodedInstruction spl = decode_ok({0x40, 0x88, 0xe0}); // mov al, spl
    CHECK(spl.operands[1].kind == OperandKind::Gpr);
    CHECK(spl.operands[1].reg == krr::RSP);
}

TEST_CASE("system instructions the kernel runs") {
    CHECK(decode_ok({0xf3, 0x0f, 0x1e, 0xfa}).opcode == OpcodeId::ENDBR64);
    CHECK(decode_ok({0x0f, 0x01, 0xf8}).opcode == OpcodeId::SWAPGS);
    CHECK(decode_ok({0x48, 0x0f, 0x07}).opcode == OpcodeId::SYSRET);
    CHECK(decode_ok({0x48, 0x0f, 0x07}).operand_size == 64);
    CHECK(name(decode_ok({0x48, 0xcf})) == "iretq");
    CHECK(decode_ok({0x0f, 0x30}).opcode == OpcodeId::WRMSR);
    CHECK(decode_ok({0x0f, 0x01, 0x38}).opcode == OpcodeId::INVLPG_Mb);
    CHECK(decode_ok({0x0f, 0x01, 0x10}).opcode == OpcodeId::LGDT_Ms);
    CHECK(decode_ok({0x0f, 0x00, 0xd8}).opcode == OpcodeId::LTR_Ew);
    CHECK(decode_ok({0x48, 0x0f, 0xae, 0x00}).opcode == OpcodeId::FXSAVE_M);
    CHECK(name(decode_ok({0x48, 0x0f, 0xae, 0x00})) == "fxsave64");
    CHECK(decode_ok({0x0f, 0xae, 0xf0}).opcode == OpcodeId::MFENCE);
    CHECK(decode_ok({0x0f, 0xae, 0x38}).opcode == OpcodeId::CLFLUSH_M);
    CHECK(decode_ok({0x0f, 0x18, 0x08}).opcode == OpcodeId::PREFETCHT0_Mb);
    CHECK(decode_ok({0x0f, 0x0d, 0x08}).opcode == OpcodeId::PREFETCHW_Mb);
    CHECK(decode_ok({0xe6, 0x80}).opcode == OpcodeId::OUT_IbAL);
    CHECK(decode_ok({0xcd, 0x80}).immediate[0] == 0x80);

    // 0F 22 D8: mov cr3, rax; 44 0F 20 C0: mov rax, cr8; mod is ignored.
    DecodedInstruction cr3 = decode_ok({0x0f, 0x22, 0xd8});
    CHECK(cr3.operands[0].kind == OperandKind::Control);
    CHECK(cr3.operands[0].reg == 3);
    CHECK(cr3.operands[1].reg == krr::RAX);
    CHECK(decode_ok({0x44, 0x0f, 0x20, 0xc0}).operands[1].reg == 8);
    DecodedInstruction mod0 = decode_ok({0x0f, 0x20, 0x00, 0x90});
    CHECK(mod0.length == 3);
    CHECK_FALSE(mod0.has_memory);

    // 64 48 8B 04 25 28 00 00 00: mov rax, fs:[0x28]
    DecodedInstruction canary = decode_ok({0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0});
    CHECK(canary.length == 9);
    CHECK(canary.memory.segment == krr::FS);

    // Long NOPs.
    CHECK(decode_ok({0x0f, 0x1f, 0x44, 0x00, 0x00}).length == 5);
    CHECK(decode_ok({0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}).length == 10);

    // rep movsq
    DecodedInstruction movsq = decode_ok({0xf3, 0x48, 0xa5});
    CHECK(name(movsq) == "movsq");
    CHECK(movsq.repeats());
    CHECK(movsq.operands[0].kind == OperandKind::StringDestination);
}

TEST_CASE("instructions outside the masked CPU decode with their length, marked unsupported") {
    struct Case {
        std::vector<uint8_t> bytes;
        size_t length;
        bool supported;
    };
    const Case cases[] = {
        {{0x66, 0x0f, 0x38, 0x00, 0xc1}, 5, false},       // pshufb (SSSE3)
        {{0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x08}, 6, false}, // palignr (SSSE3)
        {{0x66, 0x0f, 0x3a, 0x44, 0xc1, 0x00}, 6, false}, // pclmulqdq
        {{0x0f, 0xc7, 0xf0}, 3, false},                   // rdrand eax
        {{0xf3, 0x0f, 0xc7, 0xf8}, 4, false},             // rdpid rax
        {{0x0f, 0x01, 0xd0}, 3, false},                   // xgetbv
        {{0x0f, 0xae, 0x20}, 3, false},                   // xsave [rax]
        {{0x0f, 0x01, 0xcb}, 3, false},                   // stac
        {{0xf2, 0x0f, 0x38, 0xf1, 0xc1}, 5, false},       // crc32 eax, ecx
        {{0xf3, 0x0f, 0xbc, 0xc0}, 4, true},              // tzcnt: runs as bsf without BMI1
        {{0x0f, 0xa2}, 2, true},                          // cpuid
        {{0x66, 0x0f, 0xef, 0xc0}, 4, true},              // pxor (SSE2)
        {{0xd9, 0xe8}, 2, true},                          // fld1
        {{0xdb, 0x2c, 0x24}, 3, true},                    // fld tbyte [rsp]
        // VEX and EVEX
        {{0xc5, 0xf8, 0x77}, 3, false},                               // vzeroupper
        {{0xc4, 0xe2, 0x79, 0x18, 0x05, 0, 0, 0, 0}, 9, false},       // vbroadcastss
        {{0xc4, 0xe3, 0x79, 0x04, 0xc1, 0x05}, 6, false},             // vpermilps imm
        {{0xc5, 0xf9, 0x70, 0xc1, 0x1b}, 5, false},                   // vpshufd imm
        {{0x62, 0xf1, 0x7c, 0x48, 0x10, 0x40, 0x01}, 7, false},       // vmovups disp8
        {{0x62, 0xf3, 0x7d, 0x20, 0x3f, 0x47, 0x01, 0x00}, 8, false}, // vpcmpb
    };
    for (const Case& c : cases) {
        DecodeResult r = decode(c.bytes, CpuMode::Bits64);
        CAPTURE(c.bytes[0]);
        CAPTURE(c.bytes[1]);
        REQUIRE(r.ok());
        CHECK(r.instruction.length == c.length);
        CHECK(r.instruction.supported == c.supported);
    }
    // VEX after a 66 prefix raises #UD.
    CHECK(decode_bytes({0x66, 0xc5, 0xf8, 0x77}).status == DecodeStatus::InvalidOpcode);
}

TEST_CASE("NP rows refuse 66, F2 and F3; prefix-agnostic rows keep them as modifiers") {
    // NP 0F 52 rsqrtps has no 66 form; NP 0F AE E8 lfence has none either.
    CHECK(decode_ok({0x0f, 0x52, 0xc1}).opcode == OpcodeId::RSQRTPS_VxWx);
    CHECK(decode_bytes({0x66, 0x0f, 0x52, 0xc1}).status == DecodeStatus::InvalidOpcode);
    CHECK(decode_bytes({0x66, 0x0f, 0xae, 0xe8}).status == DecodeStatus::InvalidOpcode);
    // 66 0F AE /6 (mod=3) is TPAUSE, 66 0F AE /7 (memory) CLFLUSHOPT.
    CHECK(decode_ok({0x66, 0x0f, 0xae, 0xf1}).opcode == OpcodeId::TPAUSE_Rd);
    CHECK(decode_ok({0x66, 0x0f, 0xae, 0x38}).opcode == OpcodeId::CLFLUSHOPT_Mb);
    // 66 0F 38 F0 /r: movbe with a 16-bit operand; F2 0F 38 F0: crc32.
    DecodedInstruction movbe = decode_ok({0x66, 0x0f, 0x38, 0xf0, 0x06});
    CHECK(movbe.opcode == OpcodeId::MOVBE_GvMv);
    CHECK(movbe.operand_size == 16);
    CHECK(decode_ok({0xf2, 0x0f, 0x38, 0xf0, 0xc1}).opcode == OpcodeId::CRC32_GdEb);
    // MOVNTDQA takes memory only.
    CHECK(decode_bytes({0x66, 0x0f, 0x38, 0x2a, 0xc0}).status == DecodeStatus::InvalidOpcode);
}

TEST_CASE("instructions capstone 4.0.2 gets wrong, per the SDM") {
    // UD1 r32, r/m32 (0F B9 /r) has a ModRM; capstone reads 2 bytes.
    DecodedInstruction ud1 = decode_ok({0x0f, 0xb9, 0x40, 0x10});
    CHECK(ud1.length == 4);
    CHECK(ud1.memory.displacement == 0x10);
    // RDPID r64 (F3 0F C7 /7); capstone says rdseed.
    CHECK(decode_ok({0xf3, 0x0f, 0xc7, 0xf8}).opcode == OpcodeId::RDPID_Rq);
    CHECK(decode_ok({0x0f, 0xc7, 0xf8}).opcode == OpcodeId::RDSEED_Rv);
    // INCSSPQ r64 (F3 REX.W 0F AE /5); capstone says lfence.
    DecodedInstruction incssp = decode_ok({0xf3, 0x48, 0x0f, 0xae, 0xe8});
    CHECK(incssp.opcode == OpcodeId::INCSSP_Ry);
    CHECK(name(incssp) == "incsspq");
    CHECK_FALSE(incssp.supported);
    // RDSSPQ (F3 REX.W 0F 1E /1) is a NOP without shadow stacks.
    DecodedInstruction rdssp = decode_ok({0xf3, 0x48, 0x0f, 0x1e, 0xc8});
    CHECK(name(rdssp) == "rdsspq");
    CHECK(rdssp.supported);
    // Instructions newer than capstone 4.0.2.
    CHECK(decode_ok({0x0f, 0x01, 0xee}).opcode == OpcodeId::RDPKRU);
    CHECK(decode_ok({0x0f, 0x01, 0xe8}).opcode == OpcodeId::SERIALIZE);
    CHECK(decode_ok({0xf2, 0x0f, 0x01, 0xff}).opcode == OpcodeId::PVALIDATE);
    // INSERTQ xmm, xmm, imm8, imm8 (AMD SSE4a): two immediates.
    DecodedInstruction insertq = decode_ok({0xf2, 0x0f, 0x78, 0xc1, 0x04, 0x08});
    CHECK(insertq.length == 6);
    CHECK(insertq.immediate_count == 2);
    // FFREEP ST(i) (DF C0+i) and the reserved 0F 0D prefetch forms.
    CHECK(decode_ok({0xdf, 0xc1}).opcode == OpcodeId::FFREEP_STi);
    CHECK(decode_ok({0x0f, 0x0d, 0x18}).opcode == OpcodeId::PREFETCH_RESERVED_Mb);
}

TEST_CASE("on arbitrary bytes, a decoded length is exactly what the decoder needs") {
    // Properties every decode must have, whatever the bytes: with 16 bytes
    // there is never "truncated" (nothing is longer than 15); an instruction
    // decodes identically from exactly its own bytes, and one byte fewer is
    // "truncated".
    std::mt19937 random(20261125);
    // Bias towards prefixes and escapes so long and multi-byte forms occur.
    const uint8_t interesting[] = {0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x48, 0x41, 0x0f, 0x38,
                                   0x3a, 0xc4, 0xc5, 0x62, 0x64, 0x2e, 0x04, 0x05, 0x44};
    int decoded = 0;
    for (int round = 0; round < 200000; ++round) {
        std::array<uint8_t, 16> bytes{};
        for (uint8_t& b : bytes) {
            uint32_t r = random();
            b = (r & 3) == 0 ? interesting[(r >> 2) % std::size(interesting)]
                             : static_cast<uint8_t>(r >> 8);
        }
        DecodeResult whole = decode(bytes, CpuMode::Bits64);
        if (whole.status == DecodeStatus::Truncated) {
            FAIL("16 bytes reported as truncated");
        }
        if (!whole.ok()) {
            continue;
        }
        ++decoded;
        const size_t length = whole.instruction.length;
        if (length < 1 || length > 15) {
            FAIL("length out of range: " << length);
        }
        DecodeResult exact =
            decode(std::span<const uint8_t>(bytes.data(), length), CpuMode::Bits64);
        DecodeResult short_by_one =
            decode(std::span<const uint8_t>(bytes.data(), length - 1), CpuMode::Bits64);
        if (!exact.ok() || exact.instruction.length != length ||
            exact.instruction.opcode != whole.instruction.opcode ||
            short_by_one.status != DecodeStatus::Truncated) {
            FAIL("inconsistent decode at round " << round << ": length " << length);
        }
    }
    CHECK(decoded > 100000);
}

TEST_CASE("errors name what failed") {
    DecodeResult amd3dnow = decode_bytes({0x0f, 0x0f, 0xc0, 0xb4});
    CHECK(amd3dnow.status == DecodeStatus::NotImplemented);
    CHECK(amd3dnow.error_text() == "not implemented: opcode 0f 0f");
    DecodeResult les = decode(std::vector<uint8_t>{0xc4, 0x06, 0x00, 0x10}, CpuMode::Bits16);
    CHECK(les.status == DecodeStatus::NotImplemented);
    CHECK(les.error_text() == "not implemented: opcode c4 in 16-bit mode");
    CHECK(decode_bytes({0xf0, 0x90}).error_text() == "invalid opcode (#UD): 90");
    CHECK(decode_bytes({}).status == DecodeStatus::Truncated);
}

TEST_CASE("the opcode table: ids are dense and name their rows") {
    for (int i = 0; i < kOpcodeCount; ++i) {
        const OpcodeRow& row = opcode_row(static_cast<OpcodeId>(i));
        CHECK(static_cast<int>(row.id) == i);
        CHECK_FALSE(row.mnemonic.empty());
    }
    CHECK(opcode_id_name(OpcodeId::ADD_EbGb) == "ADD_EbGb");
    CHECK(mnemonic_variant(OpcodeId::CWD, 0) == "cwd");
    CHECK(mnemonic_variant(OpcodeId::CWD, 2) == "cqo");
}

namespace {

DecodedInstruction decode_in(CpuMode mode, std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> v(bytes);
    DecodeResult r = decode(v, mode);
    INFO("decode error: " << r.error_text());
    REQUIRE(r.ok());
    return r.instruction;
}

} // namespace

TEST_CASE("16-bit mode: the operand and address sizes flip with 66 and 67; the 16-bit ModRM "
          "table") {
    // mov ax, [bp+si+2]: rm 2 is BP+SI, which defaults to SS.
    DecodedInstruction a = decode_in(CpuMode::Bits16, {0x8b, 0x42, 0x02});
    CHECK(a.length == 3);
    CHECK(a.operand_size == 16);
    CHECK(a.address_size == 16);
    CHECK(a.memory.base == krr::RBP);
    CHECK(a.memory.index == krr::RSI);
    CHECK(a.memory.displacement == 2);
    CHECK(a.memory.segment == krr::SS);
    CHECK(a.operands[0].size == 2);
    // lgdt [0x1234]: mod 0, rm 6 is a bare disp16 in DS.
    DecodedInstruction lgdt = decode_in(CpuMode::Bits16, {0x0f, 0x01, 0x16, 0x34, 0x12});
    CHECK(lgdt.length == 5);
    CHECK(lgdt.memory.base == kNoRegister);
    CHECK(lgdt.memory.index == kNoRegister);
    CHECK(lgdt.memory.displacement == 0x1234);
    CHECK(lgdt.memory.segment == krr::DS);
    // mov eax, 0x12345678 with 66: a 32-bit immediate.
    DecodedInstruction mov = decode_in(CpuMode::Bits16, {0x66, 0xb8, 0x78, 0x56, 0x34, 0x12});
    CHECK(mov.length == 6);
    CHECK(mov.operand_size == 32);
    CHECK(mov.immediate[0] == 0x12345678);
    // 67 selects 32-bit addressing: [eax+ecx*4+0x10] through a SIB byte.
    DecodedInstruction sib = decode_in(CpuMode::Bits16, {0x67, 0x8b, 0x54, 0x88, 0x10});
    CHECK(sib.length == 5);
    CHECK(sib.address_size == 32);
    CHECK(sib.memory.base == krr::RAX);
    CHECK(sib.memory.index == krr::RCX);
    CHECK(sib.memory.scale == 4);
    // ljmp 0x0008:0x1000 and, with 66, ljmpl 0x0010:0x00100000.
    DecodedInstruction far16 = decode_in(CpuMode::Bits16, {0xea, 0x00, 0x10, 0x08, 0x00});
    CHECK(far16.length == 5);
    CHECK(name(far16) == "ljmp");
    CHECK(far16.immediate[0] == 0x1000);
    CHECK(far16.immediate[1] == 0x0008);
    DecodedInstruction far32 =
        decode_in(CpuMode::Bits16, {0x66, 0xea, 0x00, 0x00, 0x10, 0x00, 0x10, 0x00});
    CHECK(far32.length == 8);
    CHECK(far32.immediate[0] == 0x100000);
    CHECK(far32.immediate[1] == 0x10);
    // A near call with a 16-bit displacement.
    DecodedInstruction call = decode_in(CpuMode::Bits16, {0xe8, 0xfe, 0xff});
    CHECK(call.length == 3);
    CHECK(call.immediate[0] == ~uint64_t{1});
}

TEST_CASE("32-bit mode: 40-4F are inc and dec, segment overrides count, no RIP-relative") {
    DecodedInstruction inc = decode_in(CpuMode::Bits32, {0x41});
    CHECK(inc.length == 1);
    CHECK(inc.opcode == OpcodeId::INC_Zv);
    CHECK(inc.operands[0].reg == krr::RCX);
    CHECK(inc.operand_size == 32);
    CHECK(decode_in(CpuMode::Bits32, {0x4f}).opcode == OpcodeId::DEC_Zv);
    // mov eax, [0x1000]: mod 0 rm 5 is an absolute disp32 here.
    DecodedInstruction absolute = decode_in(CpuMode::Bits32, {0x8b, 0x05, 0x00, 0x10, 0x00, 0x00});
    CHECK_FALSE(absolute.memory.rip_relative);
    CHECK(absolute.memory.base == kNoRegister);
    CHECK(absolute.memory.displacement == 0x1000);
    // es: mov eax, [ebx]: every override changes the address outside 64-bit mode.
    CHECK(decode_in(CpuMode::Bits32, {0x26, 0x8b, 0x03}).memory.segment == krr::ES);
    CHECK(decode_in(CpuMode::Bits64, {0x26, 0x8b, 0x03}).memory.segment == krr::DS);
    // mov cr4, eax: 32-bit operands.
    DecodedInstruction cr = decode_in(CpuMode::Bits32, {0x0f, 0x22, 0xe0});
    CHECK(cr.operands[0].kind == OperandKind::Control);
    CHECK(cr.operands[0].size == 4);
    CHECK(cr.operands[1].size == 4);
    // push es, pop ds; 63 is arpl, not movsxd.
    CHECK(decode_in(CpuMode::Bits32, {0x06}).opcode == OpcodeId::PUSH_ES);
    CHECK(decode_in(CpuMode::Bits32, {0x1f}).opcode == OpcodeId::POP_DS);
    CHECK(decode_in(CpuMode::Bits32, {0x63, 0xc8}).opcode == OpcodeId::ARPL_EwGw);
    CHECK(decode_in(CpuMode::Bits64, {0x63, 0xc8}).opcode == OpcodeId::MOVSXD_GvEd);
    // ... and in 64-bit mode they stay #UD.
    CHECK(decode_bytes({0x06}).status == DecodeStatus::InvalidOpcode);
    CHECK(decode_bytes({0x82, 0xc0, 0x01}).status == DecodeStatus::InvalidOpcode);
    CHECK(decode_in(CpuMode::Bits32, {0x82, 0xc0, 0x01}).length == 3);
}
