#include "replay-engine/interpreter/fpu_state.h"

#include "guest-model/error.h"
#include "replay-engine/cpu/opcode_table.h"
#include "replay-engine/interpreter/interpreter.h"
#include "replay-engine/mmu/guest_fault.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <sys/mman.h>
#include <unordered_map>
#include <vector>

namespace krr {

namespace {

constexpr uint64_t kCr0Em = 1ULL << 2, kCr0Ts = 1ULL << 3;
constexpr uint64_t kCr4Osfxsr = 1ULL << 9;

template <typename T>
T get(std::span<const uint8_t> bytes, size_t at) {
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    return v;
}

template <typename T>
void put(std::span<uint8_t> bytes, size_t at, T v) {
    std::memcpy(bytes.data() + at, &v, sizeof v);
}

} // namespace

void store_fxsave_image(const FpuState& fpu, std::span<uint8_t, kFxsaveSize> image, bool wide) {
    std::memset(image.data(), 0, 416);
    put<uint16_t>(image, 0, fpu.fcw);
    put<uint16_t>(image, 2, fpu.fsw);
    image[4] = fpu.ftw;
    put<uint16_t>(image, 6, fpu.fop);
    if (wide) {
        put<uint64_t>(image, 8, fpu.fip);
        put<uint64_t>(image, 16, fpu.fdp);
    } else {
        // FCS and FDS stay zero: the CPU deprecates them.
        put<uint32_t>(image, 8, static_cast<uint32_t>(fpu.fip));
        put<uint32_t>(image, 16, static_cast<uint32_t>(fpu.fdp));
    }
    put<uint32_t>(image, 24, fpu.mxcsr);
    put<uint32_t>(image, 28, mxcsr_mask());
    for (int i = 0; i < 8; ++i) {
        // Only the 80-bit value; the rest of the slot is written as zero.
        std::memcpy(image.data() + 32 + 16 * i, fpu.st[static_cast<size_t>(i)].data(), 10);
    }
    for (int i = 0; i < 16; ++i) {
        std::memcpy(image.data() + 160 + 16 * i, fpu.xmm[static_cast<size_t>(i)].data(), 16);
    }
}

FpuState load_fxsave_image(std::span<const uint8_t, kFxsaveSize> image, bool wide) {
    FpuState fpu;
    fpu.fcw = get<uint16_t>(image, 0);
    fpu.fsw = get<uint16_t>(image, 2);
    fpu.ftw = image[4];
    fpu.fop = get<uint16_t>(image, 6) & 0x7ff;
    if (wide) {
        fpu.fip = get<uint64_t>(image, 8);
        fpu.fdp = get<uint64_t>(image, 16);
    } else {
        fpu.fip = get<uint32_t>(image, 8);
        fpu.fdp = get<uint32_t>(image, 16);
    }
    fpu.mxcsr = get<uint32_t>(image, 24);
    for (int i = 0; i < 8; ++i) {
        auto& st = fpu.st[static_cast<size_t>(i)];
        st.fill(0);
        std::memcpy(st.data(), image.data() + 32 + 16 * i, 10);
    }
    for (int i = 0; i < 16; ++i) {
        std::memcpy(fpu.xmm[static_cast<size_t>(i)].data(), image.data() + 160 + 16 * i, 16);
    }
    return fpu;
}

FpuState restore_through_host(std::span<const uint8_t, kFxsaveSize> image, bool wide) {
    alignas(16) FxsaveImage staged{};
    store_fxsave_image(load_fxsave_image(image, wide), staged, true);
    alignas(16) FxsaveImage host{};
    // FXSAVE reports no pending x87 exception, so the guest's may be loaded
    // and saved; the host's own state goes back before anything else runs.
    __asm__ volatile("fxsave64 %0\n\t"
                     "fxrstor64 %1\n\t"
                     "fxsave64 %1\n\t"
                     "fxrstor64 %0"
                     : "+m"(host), "+m"(staged));
    return load_fxsave_image(staged, true);
}

uint32_t mxcsr_mask() {
    static const uint32_t mask = [] {
        alignas(16) uint8_t area[kFxsaveSize] = {};
        __asm__ volatile("fxsave64 %0" : "=m"(area));
        uint32_t m = get<uint32_t>(std::span<const uint8_t>(area, kFxsaveSize), 28);
        // A zero mask means the original SSE set without DAZ.
        return m == 0 ? 0xffbfu : m;
    }();
    return mask;
}

void require_sse(const CpuState& cpu) {
    if ((cpu.cr0 & kCr0Em) || !(cpu.cr4 & kCr4Osfxsr)) {
        throw GuestFault::ud();
    }
    if (cpu.cr0 & kCr0Ts) {
        throw GuestFault{kDeviceNotAvailable, false, 0, 0};
    }
}

void require_mmx(const CpuState& cpu) {
    if (cpu.cr0 & kCr0Em) {
        throw GuestFault::ud();
    }
    if (cpu.cr0 & kCr0Ts) {
        throw GuestFault{kDeviceNotAvailable, false, 0, 0};
    }
    if (cpu.fpu.fsw & kFswErrorSummary) {
        throw GuestFault{kX87Error, false, 0, 0};
    }
}

void require_x87(const CpuState& cpu, bool waiting) {
    // (FWAIT follows CR0.MP and TS instead and checks for itself.)
    if (cpu.cr0 & (kCr0Em | kCr0Ts)) {
        throw GuestFault{kDeviceNotAvailable, false, 0, 0};
    }
    if (waiting && (cpu.fpu.fsw & kFswErrorSummary)) {
        throw GuestFault{kX87Error, false, 0, 0};
    }
}

MemoryOperand memory_operand(const cpu::DecodedInstruction& insn, bool x87_store) {
    MemoryOperand m;
    for (int i = 0; i < insn.operand_count; ++i) {
        const cpu::Operand& op = insn.operands[static_cast<size_t>(i)];
        if (op.kind == cpu::OperandKind::Memory) {
            m.index = i;
            m.size = op.size;
            // SSE and MMX name the destination first and never both read and
            // write memory; x87 rows name the memory operand alone.
            m.written = x87_store || (i == 0 && insn.operand_count > 1);
        }
    }
    return m;
}

// --- running on the host -------------------------------------------------

namespace {

// Where each register field of the re-encoded instruction points.
enum class FieldKind : uint8_t { Unused, Gpr, Mmx, Xmm, Other };

FieldKind kind_of(cpu::Addressing a) {
    switch (a) {
    case cpu::Addressing::G:
    case cpu::Addressing::E:
    case cpu::Addressing::R:
        return FieldKind::Gpr;
    case cpu::Addressing::P:
    case cpu::Addressing::Q:
    case cpu::Addressing::N:
        return FieldKind::Mmx;
    case cpu::Addressing::V:
    case cpu::Addressing::W:
    case cpu::Addressing::U:
        return FieldKind::Xmm;
    default:
        return FieldKind::Other;
    }
}

bool in_reg_field(cpu::Addressing a) {
    switch (a) {
    case cpu::Addressing::G:
    case cpu::Addressing::P:
    case cpu::Addressing::V:
        return true;
    default:
        return false;
    }
}

bool in_rm_field(cpu::Addressing a) {
    switch (a) {
    case cpu::Addressing::E:
    case cpu::Addressing::R:
    case cpu::Addressing::M:
    case cpu::Addressing::Q:
    case cpu::Addressing::N:
    case cpu::Addressing::W:
    case cpu::Addressing::U:
    case cpu::Addressing::StI:
        return true;
    default:
        return false;
    }
}

// A few bytes of machine code being put together.
struct CodeBytes {
    std::array<uint8_t, 96> bytes{};
    size_t size = 0;
    size_t instruction_offset = 0; // where the guest's instruction starts
    void push_back(uint8_t b) {
        if (size == bytes.size()) {
            throw Error("host FPU execution", "stub too long");
        }
        bytes[size++] = b;
    }
    void append(std::initializer_list<uint8_t> list) {
        for (uint8_t b : list) {
            push_back(b);
        }
    }
    void append(const CodeBytes& other) {
        for (size_t i = 0; i < other.size; ++i) {
            push_back(other.bytes[i]);
        }
    }
    std::string key() const {
        return std::string(bytes.begin(), bytes.begin() + static_cast<long>(size));
    }
};

void emit32(CodeBytes& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

constexpr uint32_t kImageOffset = offsetof(HostOperation, image);
constexpr uint32_t kRaxOffset = offsetof(HostOperation, rax);
constexpr uint32_t kRflagsOffset = offsetof(HostOperation, rflags);
constexpr uint32_t kMemoryOffset = offsetof(HostOperation, memory);
constexpr uint32_t kMxcsrOffset = offsetof(HostOperation, mxcsr);
constexpr uint32_t kHostMxcsrOffset = offsetof(HostOperation, host_mxcsr);

// The XMM registers an instruction names (ModRM.reg, and ModRM.rm when it
// is a register), at most two, -1 for none.
std::array<int, 2> xmm_registers(const cpu::DecodedInstruction& insn) {
    std::array<int, 2> regs{-1, -1};
    size_t n = 0;
    for (int i = 0; i < insn.operand_count; ++i) {
        const cpu::Operand& o = insn.operands[static_cast<size_t>(i)];
        if (o.kind == cpu::OperandKind::Xmm && n < 2 && (n == 0 || regs[0] != o.reg)) {
            regs[n++] = o.reg;
        }
    }
    return regs;
}

// The guest instruction with its operands renumbered for the stub: a GPR
// becomes RAX, memory becomes [rdi + offset of HostOperation::memory].
CodeBytes host_encoding(const cpu::DecodedInstruction& insn) {
    const cpu::OpcodeRow& row = cpu::opcode_row(insn.opcode);
    CodeBytes out;
    switch (insn.mandatory_prefix) {
    case cpu::MandatoryPrefix::P66:
        out.push_back(0x66);
        break;
    case cpu::MandatoryPrefix::F3:
        out.push_back(0xf3);
        break;
    case cpu::MandatoryPrefix::F2:
        out.push_back(0xf2);
        break;
    default:
        // x87 rows: 66 selects the 16-bit FNSTENV/FNSAVE layouts.
        if (insn.prefixes.operand_size) {
            out.push_back(0x66);
        }
        break;
    }
    FieldKind reg_kind = FieldKind::Unused, rm_kind = FieldKind::Unused;
    for (const cpu::OperandSpec& spec : row.operands) {
        if (in_reg_field(spec.addressing)) {
            reg_kind = kind_of(spec.addressing);
        } else if (in_rm_field(spec.addressing)) {
            rm_kind = kind_of(spec.addressing);
        }
    }
    bool memory = insn.has_modrm && insn.modrm.mod != 3;
    uint8_t reg_field = insn.modrm.reg & 7;
    uint8_t rm_field = insn.modrm.rm & 7;
    uint8_t rex = insn.rex_w() ? 0x48 : 0;
    if (reg_kind == FieldKind::Gpr) {
        reg_field = 0;
    } else if (reg_kind == FieldKind::Xmm && insn.modrm.reg >= 8) {
        rex |= 0x44;
    }
    if (!memory && rm_kind == FieldKind::Gpr) {
        rm_field = 0;
    } else if (!memory && rm_kind == FieldKind::Xmm && insn.modrm.rm >= 8) {
        rex |= 0x41;
    }
    if (rex) {
        out.push_back(rex);
    }
    switch (insn.map) {
    case cpu::OpcodeMap::Map0F:
        out.push_back(0x0f);
        break;
    case cpu::OpcodeMap::Map0F38:
        out.append({0x0f, 0x38});
        break;
    case cpu::OpcodeMap::Map0F3A:
        out.append({0x0f, 0x3a});
        break;
    case cpu::OpcodeMap::OneByte:
        break;
    }
    out.push_back(insn.opcode_byte);
    if (insn.has_modrm) {
        if (memory) {
            out.push_back(static_cast<uint8_t>(0x80 | (reg_field << 3) | 7));
            emit32(out, kMemoryOffset);
        } else {
            out.push_back(static_cast<uint8_t>(0xc0 | (reg_field << 3) | rm_field));
        }
    }
    for (int k = 0; k < insn.immediate_count; ++k) {
        for (int b = 0; b < insn.immediate_size[static_cast<size_t>(k)]; ++b) {
            out.push_back(static_cast<uint8_t>(insn.immediate[static_cast<size_t>(k)] >> (8 * b)));
        }
    }
    return out;
}

// The second argument is the host's FXSAVE area (whole-state stubs) or the
// guest's XMM file (XMM-only stubs).
using StubFunction = void (*)(HostOperation*, uint8_t*);

struct Stub {
    StubFunction function = nullptr;
    uint64_t instruction_address = 0; // what FIP reads after it ran
};

// Generated stubs, one per distinct host encoding, in executable pages of
// this thread. Their number is bounded by the distinct encodings with
// memory operands folded together.
class StubCache {
public:
    ~StubCache() {
        for (void* chunk : chunks_) {
            munmap(chunk, kChunkSize);
        }
    }

    const Stub& get(const CodeBytes& encoding, bool xmm_only, std::array<int, 2> xmm) {
        std::string key = encoding.key();
        key.push_back(xmm_only ? 'x' : 'w');
        auto it = stubs_.find(key);
        if (it != stubs_.end()) {
            return it->second;
        }
        CodeBytes code = xmm_only ? xmm_only_code(encoding, xmm) : whole_state_code(encoding);
        return stubs_.emplace(std::move(key), place(code)).first->second;
    }

private:
    static constexpr size_t kChunkSize = 64 * 1024;

    static void mxcsr_access(CodeBytes& code, bool store, uint32_t offset) {
        code.append({0x0f, 0xae, static_cast<uint8_t>(store ? 0x9f : 0x97)}); // [rdi + disp32]
        emit32(code, offset);
    }

    // movdqu between XMMn and [rsi + 16 n].
    static void xmm_access(CodeBytes& code, int reg, bool store) {
        code.push_back(0xf3);
        if (reg >= 8) {
            code.push_back(0x44);
        }
        code.append({0x0f, static_cast<uint8_t>(store ? 0x7f : 0x6f),
                     static_cast<uint8_t>(0x86 | ((reg & 7) << 3))});
        emit32(code, static_cast<uint32_t>(16 * reg));
    }

    // Only MXCSR is callee-saved among what the instruction touches; the
    // XMM registers are the caller's to clobber.
    static CodeBytes xmm_only_code(const CodeBytes& encoding, std::array<int, 2> xmm) {
        CodeBytes code;
        mxcsr_access(code, true, kHostMxcsrOffset);
        mxcsr_access(code, false, kMxcsrOffset);
        for (int r : xmm) {
            if (r >= 0) {
                xmm_access(code, r, false);
            }
        }
        code.append({0x48, 0x8b, 0x87}); // mov rax, [rdi + rax]
        emit32(code, kRaxOffset);
        code.append(encoding);
        code.append({0x48, 0x89, 0x87}); // mov [rdi + rax], rax
        emit32(code, kRaxOffset);
        for (int r : xmm) {
            if (r >= 0) {
                xmm_access(code, r, true);
            }
        }
        code.append({0x9c, 0x59, 0x48, 0x89, 0x8f}); // pushfq; pop rcx; mov [..], rcx
        emit32(code, kRflagsOffset);
        mxcsr_access(code, true, kMxcsrOffset);
        mxcsr_access(code, false, kHostMxcsrOffset);
        code.push_back(0xc3);
        return code;
    }

    static CodeBytes whole_state_code(const CodeBytes& encoding) {
        CodeBytes code;
        auto rex_w_0f_ae = [&](uint8_t modrm) { code.append({0x48, 0x0f, 0xae, modrm}); };
        rex_w_0f_ae(0x06); // fxsave64 [rsi]: the host's own state
        rex_w_0f_ae(0x8f); // fxrstor64 [rdi + image]
        emit32(code, kImageOffset);
        code.append({0x48, 0x8b, 0x87}); // mov rax, [rdi + rax]
        emit32(code, kRaxOffset);
        // The guest's status flags (only those: DF, TF and AC stay the
        // host's), for FCMOVcc, which tests CF, ZF and PF.
        code.append({0xff, 0xb7}); // push qword [rdi + rflags]
        emit32(code, kRflagsOffset);
        code.push_back(0x9d); // popfq
        size_t instruction_offset = code.size;
        code.append(encoding);
        code.append({0x48, 0x89, 0x87}); // mov [rdi + rax], rax
        emit32(code, kRaxOffset);
        code.append({0x9c, 0x59, 0x48, 0x89, 0x8f}); // pushfq; pop rcx; mov [..], rcx
        emit32(code, kRflagsOffset);
        rex_w_0f_ae(0x87); // fxsave64 [rdi + image]
        emit32(code, kImageOffset);
        rex_w_0f_ae(0x0e); // fxrstor64 [rsi]
        code.push_back(0xc3);
        code.instruction_offset = instruction_offset;
        return code;
    }

    // Pages are never writable and executable at once: a chunk is opened
    // for writing only while a new stub is copied in (rare: stubs are built
    // once per encoding).
    Stub place(const CodeBytes& code) {
        if (chunks_.empty() || used_ + code.size > kChunkSize) {
            void* chunk = mmap(nullptr, kChunkSize, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (chunk == MAP_FAILED) {
                throw Error("host FPU execution",
                            "cannot map a page for stubs: " + errno_text(errno));
            }
            chunks_.push_back(chunk);
            used_ = 0;
        } else if (mprotect(chunks_.back(), kChunkSize, PROT_READ | PROT_WRITE) != 0) {
            throw Error("host FPU execution", "cannot reopen a stub page: " + errno_text(errno));
        }
        uint8_t* at = static_cast<uint8_t*>(chunks_.back()) + used_;
        std::memcpy(at, code.bytes.data(), code.size);
        used_ += (code.size + 15) & ~size_t{15};
        if (mprotect(chunks_.back(), kChunkSize, PROT_READ | PROT_EXEC) != 0) {
            throw Error("host FPU execution",
                        "cannot make a stub page executable: " + errno_text(errno));
        }
        Stub stub;
        stub.function = reinterpret_cast<StubFunction>(at);
        stub.instruction_address = reinterpret_cast<uint64_t>(at + code.instruction_offset);
        return stub;
    }

    std::unordered_map<std::string, Stub> stubs_;
    std::vector<void*> chunks_;
    size_t used_ = 0;
};

thread_local StubCache stub_cache;

} // namespace

void run_on_host(const cpu::DecodedInstruction& insn, HostOperation& op) {
    alignas(16) thread_local uint8_t host_save_area[kFxsaveSize];
    const Stub& stub = stub_cache.get(host_encoding(insn), false, {-1, -1});
    std::span<uint8_t> image(op.image);
    uint64_t fip_before = get<uint64_t>(image, 8);
    uint64_t fdp_before = get<uint64_t>(image, 16);
    stub.function(&op, host_save_area);
    uint64_t fip = get<uint64_t>(image, 8);
    uint64_t fdp = get<uint64_t>(image, 16);
    op.fip_updated = fip == stub.instruction_address && fip != fip_before;
    op.fdp_updated = fdp == reinterpret_cast<uint64_t>(op.memory.data()) && fdp != fdp_before;
}

namespace {

constexpr uint32_t kPrecomputationExceptions = 0x7; // IE DE ZE
constexpr uint64_t kCr4Osxmmexcpt = 1ULL << 10;
constexpr uint64_t kStatusFlags = 0x8d5; // CF PF AF ZF SF OF

uint8_t original_modrm(const cpu::DecodedInstruction& insn) {
    return static_cast<uint8_t>((insn.modrm.mod << 6) | ((insn.modrm.reg & 7) << 3) |
                                (insn.modrm.rm & 7));
}

} // namespace

namespace {

constexpr uint32_t kMxcsrUnderflow = 0x10;
constexpr uint32_t kMxcsrUnderflowMask = 0x800;
constexpr uint32_t kMxcsrFlushToZero = 0x8000;

// With UE unmasked the CPU reports every tiny result, exact or not, while
// the masked run this code relies on reports only tiny and inexact ones.
// A second run with FTZ set reveals tininess: flushing a tiny result to
// zero always sets UE.
bool underflow_unmasked(uint32_t guest_mxcsr) {
    return (guest_mxcsr & kMxcsrUnderflowMask) == 0;
}

// The unmasked SIMD exceptions among `raised` become the guest's fault,
// with MXCSR's flags set as the CPU sets them.
void raise_unmasked_simd_exception(CpuState& cpu, uint32_t guest_mxcsr, uint32_t raised) {
    uint32_t unmasked = raised & ~(guest_mxcsr >> 7) & kMxcsrFlags;
    if (!unmasked) {
        return;
    }
    // Unmasked pre-computation exceptions stop the operation before the
    // post-computation ones are looked at; either way the destination keeps
    // its value and only MXCSR changes.
    uint32_t pre = raised & kPrecomputationExceptions;
    cpu.fpu.mxcsr = guest_mxcsr | ((pre & unmasked) ? pre : raised);
    if (cpu.cr4 & kCr4Osxmmexcpt) {
        throw GuestFault{kSimdError, false, 0, 0};
    }
    throw GuestFault::ud();
}

// The memory operand moves between guest memory and the staging buffer;
// 4-, 8- and 16-byte operands take the MMU's fast path, and a 16-byte store
// that crosses a page goes in one checked piece so a fault writes nothing.
// An 80-bit store (FSTP m80, FBSTP) is two stores on the CPU: the 8-byte
// significand (or BCD digits), then the 2-byte sign and exponent. When the
// second faults, the first is already in memory; every other store here
// writes nothing on a fault (measured on the host for each store width).
void read_staged(Interpreter& in, uint64_t linear, std::span<uint8_t> staged) {
    LinearMemory& memory = in.memory();
    if (staged.size() == 16 || staged.size() == 8) {
        for (size_t at = 0; at < staged.size(); at += 8) {
            uint64_t v = memory.read<uint64_t>(linear + at, in.user_mode);
            std::memcpy(staged.data() + at, &v, 8);
        }
    } else if (staged.size() == 4) {
        uint32_t v = memory.read<uint32_t>(linear, in.user_mode);
        std::memcpy(staged.data(), &v, 4);
    } else {
        memory.read_bytes(linear, staged, in.user_mode);
    }
}

constexpr size_t kExtendedSize = 10;

void write_staged(Interpreter& in, uint64_t linear, std::span<const uint8_t> staged) {
    LinearMemory& memory = in.memory();
    if (staged.size() == kExtendedSize) {
        uint64_t significand;
        uint16_t sign_exponent;
        std::memcpy(&significand, staged.data(), 8);
        std::memcpy(&sign_exponent, staged.data() + 8, 2);
        memory.write<uint64_t>(linear, significand, in.user_mode);
        memory.write<uint16_t>(linear + 8, sign_exponent, in.user_mode);
    } else if (staged.size() == 8 || (staged.size() == 16 && (linear & 0xfff) <= 0xff0)) {
        for (size_t at = 0; at < staged.size(); at += 8) {
            uint64_t v;
            std::memcpy(&v, staged.data() + at, 8);
            memory.write<uint64_t>(linear + at, v, in.user_mode);
        }
    } else if (staged.size() == 4) {
        uint32_t v;
        std::memcpy(&v, staged.data(), 4);
        memory.write<uint32_t>(linear, v, in.user_mode);
    } else {
        memory.write_bytes(linear, staged, in.user_mode);
    }
}

// What both host paths do before running an instruction: check and stage
// the memory operand (read unless it is only written), and put a general
// register operand in RAX. Returns the linear address and the GPR that is the
// destination (-1 when none).
struct StagedOperands {
    uint64_t linear = 0;
    int gpr_destination = -1;
};

StagedOperands stage_operands(Interpreter& in, const cpu::DecodedInstruction& insn,
                              const HostExecution& how, const MemoryOperand& mem, HostOperation& op,
                              std::span<uint8_t> staged) {
    const CpuState& cpu = in.cpu();
    StagedOperands out;
    if (mem.index >= 0) {
        out.linear = in.linear_address(insn);
        if (how.aligned && mem.size == 16 && (out.linear & 15) != 0) {
            throw GuestFault::gp(0);
        }
        if (!mem.written) {
            read_staged(in, out.linear, staged);
        }
    }
    for (int i = 0; i < insn.operand_count; ++i) {
        const cpu::Operand& o = insn.operands[static_cast<size_t>(i)];
        if (o.kind == cpu::OperandKind::Gpr) {
            op.rax = cpu.gpr[o.reg];
            if (i == 0) {
                out.gpr_destination = o.reg;
            }
        }
    }
    return out;
}

void execute_xmm_only(Interpreter& in, const cpu::DecodedInstruction& insn,
                      const HostExecution& how) {
    CpuState& cpu = in.cpu();
    MemoryOperand mem = memory_operand(insn, false);
    HostOperation op;
    std::span<uint8_t> staged(op.memory.data(), static_cast<size_t>(mem.size));
    const auto [linear, gpr_destination] = stage_operands(in, insn, how, mem, op, staged);
    const std::array<int, 2> xmm = xmm_registers(insn);
    std::array<std::array<uint8_t, 16>, 2> saved{};
    for (size_t i = 0; i < 2; ++i) {
        if (xmm[i] >= 0) {
            saved[i] = cpu.fpu.xmm[static_cast<size_t>(xmm[i])];
        }
    }
    auto restore = [&] {
        for (size_t i = 0; i < 2; ++i) {
            if (xmm[i] >= 0) {
                cpu.fpu.xmm[static_cast<size_t>(xmm[i])] = saved[i];
            }
        }
    };
    const uint32_t guest_mxcsr = cpu.fpu.mxcsr;
    op.mxcsr = (guest_mxcsr & ~kMxcsrFlags) | kMxcsrMasks;
    const Stub& stub = stub_cache.get(host_encoding(insn), true, xmm);
    uint32_t raised = 0;
    if (underflow_unmasked(guest_mxcsr)) {
        // Probe for a tiny result first, on a scratch copy of the registers.
        HostOperation probe = op;
        probe.mxcsr |= kMxcsrFlushToZero;
        stub.function(&probe, cpu.fpu.xmm[0].data());
        raised = probe.mxcsr & kMxcsrUnderflow;
        restore();
    }
    stub.function(&op, cpu.fpu.xmm[0].data());
    raised |= op.mxcsr & kMxcsrFlags;
    try {
        raise_unmasked_simd_exception(cpu, guest_mxcsr, raised);
        if (mem.written) {
            write_staged(in, linear, staged);
        }
    } catch (...) {
        restore();
        throw;
    }
    cpu.fpu.mxcsr = guest_mxcsr | raised;
    if (gpr_destination >= 0) {
        cpu.gpr[static_cast<size_t>(gpr_destination)] = op.rax;
    }
    if (how.writes_flags) {
        cpu.rflags = (cpu.rflags & ~kStatusFlags) | (op.rflags & kStatusFlags);
    }
}

} // namespace

void execute_on_host(Interpreter& in, const cpu::DecodedInstruction& insn,
                     const HostExecution& how) {
    if (how.xmm_only) {
        execute_xmm_only(in, insn, how);
        return;
    }
    CpuState& cpu = in.cpu();
    MemoryOperand mem = memory_operand(insn, how.x87_store);
    if (how.memory_size != 0) {
        mem.size = how.memory_size;
    }
    HostOperation op;
    // The guest's status flags, which the whole-state stub loads (FCMOVcc).
    op.rflags = (cpu.rflags & kStatusFlags) | 2;
    std::span<uint8_t> staged(op.memory.data(), static_cast<size_t>(mem.size));
    const auto [linear, gpr_destination] = stage_operands(in, insn, how, mem, op, staged);
    const uint32_t guest_mxcsr = cpu.fpu.mxcsr;
    store_fxsave_image(cpu.fpu, op.image, true);
    // The host never traps: every SIMD exception is masked while it runs
    // and the flags start clear so the ones this instruction raises show.
    put<uint32_t>(op.image, 24, (guest_mxcsr & ~kMxcsrFlags) | kMxcsrMasks);
    if (mem.written) {
        std::fill(staged.begin(), staged.end(), uint8_t{0});
    }
    std::optional<HostOperation> staged_input;
    if (how.x87_store) {
        staged_input = op;
    }
    uint32_t raised = 0;
    if (how.sse_exceptions && underflow_unmasked(guest_mxcsr)) {
        HostOperation probe = op;
        put<uint32_t>(probe.image, 24, get<uint32_t>(probe.image, 24) | kMxcsrFlushToZero);
        run_on_host(insn, probe);
        raised = get<uint32_t>(probe.image, 24) & kMxcsrUnderflow;
    }
    run_on_host(insn, op);
    FpuState after = load_fxsave_image(op.image, true);

    raised |= after.mxcsr & kMxcsrFlags;
    if (how.sse_exceptions) {
        raise_unmasked_simd_exception(cpu, guest_mxcsr, raised);
    }
    after.mxcsr = guest_mxcsr | raised;

    bool new_x87_error =
        (after.fsw & kFswErrorSummary) != 0 && (cpu.fpu.fsw & kFswErrorSummary) == 0;
    if (mem.written) {
        bool stored = true;
        if (how.x87_store && new_x87_error) {
            // An unmasked x87 exception may or may not suppress the store
            // (overflow does, inexact does not): run again over a different
            // fill and see whether the bytes followed the fill.
            HostOperation again = *staged_input;
            std::memset(again.memory.data(), 0xff, staged.size());
            run_on_host(insn, again);
            stored = std::memcmp(again.memory.data(), op.memory.data(), staged.size()) == 0;
        }
        if (stored) {
            write_staged(in, linear, staged);
        }
    }

    // FIP, FDP and FOP as the instruction left them, in guest terms.
    after.fip = op.fip_updated ? cpu.rip : after.fip;
    after.fdp = op.fdp_updated ? in.effective_address(insn) : after.fdp;
    // The host recorded the opcode of its re-encoded copy.
    if (after.fop != cpu.fpu.fop && after.fop != 0) {
        after.fop = static_cast<uint16_t>(((insn.opcode_byte & 7) << 8) | original_modrm(insn));
    }
    cpu.fpu = after;
    if (gpr_destination >= 0) {
        cpu.gpr[static_cast<size_t>(gpr_destination)] = op.rax;
    }
    if (how.writes_flags) {
        cpu.rflags = (cpu.rflags & ~kStatusFlags) | (op.rflags & kStatusFlags);
    }
}

} // namespace krr
