// The generated differential sweep: every row of the opcode table gets
// synthesized encodings (sweep_encoder.h), each must decode back to its row
// with its length, and each runs natively (the oracle) and in the
// interpreter from random states; registers, RIP, status flags and DF, the
// data window and the x87/SSE state must agree. Rows the masked CPU lacks
// must raise #UD instead; rows that cannot be compared are listed with why.
#include "replay-engine/cpu/decoder.h"
#include "replay-engine/mmu/guest_fault.h"
#include "tests/interpreter/sweep_encoder.h"
#include "tests/interpreter/sweep_rows.h"
#include "tests/interpreter/user_mode_machine.h"
#include "tests/support/native_oracle.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>

using namespace krr;
using krr::testing::kStatusAndDf;
using krr::testing::NativeOracle;
using krr::testing::signal_matches_vector;
using krr::testing::SweepEncoding;
using krr::testing::SweepTreatment;

namespace {

constexpr int kStatesPerRow = 160;
constexpr uint64_t kSeed = 20261125;

// KRR_SWEEP_SEED and KRR_SWEEP_STATES explore beyond the fixed sweep the
// test suite runs (a longer or differently seeded search for mismatches).
uint64_t environment_number(const char* name, uint64_t fallback) {
    const char* text = std::getenv(name);
    return text && *text ? std::strtoull(text, nullptr, 0) : fallback;
}
constexpr int kUndefinedChecksPerRow = 4;
constexpr int kDetailedFailuresPerRow = 2;
constexpr uint64_t kWindow = NativeOracle::kWindowAddress;
// Linux's TASK_SIZE_MAX: page faults at or above it get P set in the signal.
constexpr uint64_t kUserTop = 0x00007ffffffff000ULL;
// The end of the user-mode machine's supervisor-only identity map.
constexpr uint64_t kMachineKernelTop = 0x200000;
// A system call number Linux has in neither table: the system call rows make
// the host's kernel answer -ENOSYS and change nothing else.
constexpr uint64_t kInvalidSystemCall = 0xffff;
constexpr uint64_t kEnosys = static_cast<uint64_t>(-38);

const char* const kGprNames[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                 "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

// mov eax, 0x2b; mov ds, eax; mov es, eax; xor eax, eax; mov fs, eax; mov gs, eax:
// the oracle's child keeps its segment registers from run to run, so rows
// that load them are followed by this to restore Linux's user values.
constexpr uint8_t kSegmentReset[] = {0xb8, 0x2b, 0x00, 0x00, 0x00, 0x8e, 0xd8, 0x8e,
                                     0xc0, 0x31, 0xc0, 0x8e, 0xe0, 0x8e, 0xe8};

std::string hex(uint64_t v) {
    std::ostringstream o;
    o << std::hex << "0x" << v;
    return o.str();
}

std::string lanes_hex(std::span<const uint8_t> bytes) {
    std::ostringstream o;
    for (size_t i = bytes.size(); i-- > 0;) {
        o << std::hex << (bytes[i] >> 4) << (bytes[i] & 15);
    }
    return o.str();
}

uint64_t random_register(std::mt19937_64& rng) {
    uint64_t r = rng();
    // Zero, small values and sign boundaries matter as much as random ones.
    switch (rng() % 8) {
    case 0:
        return r & 0xff;
    case 1:
        return (rng() & 1) ? 0x80000000ULL : 0x8000000000000000ULL;
    case 2:
        return rng() % 4 == 0 ? 0 : r & 0xffff;
    default:
        return r;
    }
}

// Lane values with the corners of floating point: signed zeros, infinities,
// quiet and signalling NaNs, denormals, largest and smallest normals.
uint64_t edge_double(std::mt19937_64& rng) {
    static constexpr uint64_t kEdges[] = {
        0x0000000000000000, 0x8000000000000000, 0x7ff0000000000000, 0xfff0000000000000,
        0x7ff8000000000000, 0xfff8000000000001, 0x7ff0000000000001, 0x0000000000000001,
        0x800fffffffffffff, 0x7fefffffffffffff, 0x0010000000000000, 0x3ff0000000000000,
        0x7f8000007fc00000, 0x807fffff00000001, 0x3f800000bf800000, 0x4f000000cf000001};
    return rng() % 3 == 0 ? kEdges[rng() % 16] : rng();
}

void randomize_fpu(FpuState& fpu, std::mt19937_64& rng) {
    for (auto& x : fpu.xmm) {
        for (size_t lane = 0; lane < 2; ++lane) {
            uint64_t v = edge_double(rng);
            std::memcpy(x.data() + 8 * lane, &v, 8);
        }
    }
    for (auto& st : fpu.st) {
        st.fill(0);
        uint64_t mantissa = edge_double(rng) | ((rng() % 8) ? (1ULL << 63) : 0);
        uint16_t exponent = static_cast<uint16_t>(rng() % 4 == 0 ? ((rng() & 1) ? 0x7fff : 0)
                                                                 : 0x3fff + (rng() % 64) - 32);
        exponent = static_cast<uint16_t>(exponent | ((rng() & 1) << 15));
        std::memcpy(st.data(), &mantissa, 8);
        std::memcpy(st.data() + 8, &exponent, 2);
    }
    fpu.ftw = static_cast<uint8_t>(rng() % 3 == 0 ? 0 : rng());
    fpu.fsw = static_cast<uint16_t>(rng() & 0x3f7f); // TOP, C0-C3, masked flags; no ES
    fpu.mxcsr = 0x1f80 | static_cast<uint32_t>(rng() & 0x3f);
    if (rng() % 3 == 0) {
        fpu.mxcsr |= static_cast<uint32_t>(rng() & 0xe040); // RC, FTZ, DAZ
    }
}

CpuState random_state(std::mt19937_64& rng, const SweepEncoding& enc) {
    CpuState s{};
    for (auto& r : s.gpr) {
        r = random_register(rng);
    }
    s.gpr[R15] = kWindow + testing::kSweepBaseOffset;
    s.gpr[RSP] = kWindow + testing::kSweepStackOffset;
    s.gpr[RBP] = kWindow + testing::kSweepFrameOffset;
    s.rflags = (rng() & 0x8d5) | 2;
    if (enc.set_direction_flag && enc.direction_flag) {
        s.rflags |= 0x400;
    }
    randomize_fpu(s.fpu, rng);
    for (const auto& setting : enc.registers) {
        s.gpr[setting.reg] = setting.value;
    }
    return s;
}

std::string describe_state(const CpuState& s) {
    std::ostringstream o;
    for (int r = 0; r < kGprCount; ++r) {
        o << kGprNames[r] << "=" << hex(s.gpr[r]) << (r % 4 == 3 ? "\n    " : " ");
    }
    o << "rflags=" << hex(s.rflags) << " mxcsr=" << hex(s.fpu.mxcsr) << " fsw=" << hex(s.fpu.fsw)
      << " ftw=" << hex(s.fpu.ftw);
    return o.str();
}

// The differences between the two outcomes, one per line; empty when equal.
std::string differences(const testing::NativeOutcome& native,
                        const testing::EmulatedOutcome& emulated) {
    std::ostringstream o;
    if (!emulated.ok) {
        o << "  interpreter stopped: " << emulated.error << "\n";
        return o.str();
    }
    if (native.signal) {
        if (native.trap_number >= 0 ? native.trap_number != emulated.vector
                                    : !signal_matches_vector(native.signal, emulated.vector)) {
            o << "  native signal " << native.signal << " (vector " << native.trap_number
              << "), emulated vector " << emulated.vector << "\n";
        } else if (native.trap_number >= 0 &&
                   exception_has_error_code(static_cast<uint8_t>(emulated.vector))) {
            // P of a page fault's error code can differ where the two
            // address spaces do: Linux sets it at a kernel address, and the
            // machine's own kernel side (supervisor pages) sits in the low
            // 2 MiB, where the child has nothing mapped.
            const uint64_t ignored =
                emulated.vector == kPageFault &&
                        (emulated.fault_cr2 >= kUserTop || emulated.fault_cr2 < kMachineKernelTop)
                    ? 1
                    : 0;
            if ((native.error_code & ~ignored) != (emulated.error_code & ~ignored)) {
                o << "  error code: native " << hex(native.error_code) << " emulated "
                  << hex(emulated.error_code) << "\n";
            }
        }
        if (emulated.fault_rip != native.cpu.rip) {
            o << "  fault rip: native " << hex(native.cpu.rip) << " emulated "
              << hex(emulated.fault_rip) << "\n";
        }
    } else if (emulated.vector != -1) {
        o << "  emulated vector " << emulated.vector << " at " << hex(emulated.fault_rip)
          << ", native ran to the end\n";
    } else if (emulated.cpu.rip != native.cpu.rip) {
        o << "  rip: native " << hex(native.cpu.rip) << " emulated " << hex(emulated.cpu.rip)
          << "\n";
    }
    for (int r = 0; r < kGprCount; ++r) {
        if (emulated.cpu.gpr[r] != native.cpu.gpr[r]) {
            o << "  " << kGprNames[r] << ": native " << hex(native.cpu.gpr[r]) << " emulated "
              << hex(emulated.cpu.gpr[r]) << "\n";
        }
    }
    if ((emulated.cpu.rflags & kStatusAndDf) != (native.cpu.rflags & kStatusAndDf)) {
        o << "  flags (CF PF AF ZF SF DF OF): native " << hex(native.cpu.rflags & kStatusAndDf)
          << " emulated " << hex(emulated.cpu.rflags & kStatusAndDf) << "\n";
    }
    int shown = 0;
    for (size_t i = 0; i < native.window.size() && i < emulated.window.size(); ++i) {
        if (native.window[i] != emulated.window[i] && shown++ < 8) {
            o << "  window+" << hex(i) << ": native " << hex(native.window[i]) << " emulated "
              << hex(emulated.window[i]) << "\n";
        }
    }
    const FpuState& ef = emulated.cpu.fpu;
    const FpuState& nf = native.cpu.fpu;
    // At a SIMD exception the emulated state is the one before the
    // instruction while the CPU has already set MXCSR's flags.
    uint32_t mxcsr_compared = emulated.vector == kSimdError ? ~0x3fu : ~0u;
    if ((ef.mxcsr & mxcsr_compared) != (nf.mxcsr & mxcsr_compared)) {
        o << "  mxcsr: native " << hex(nf.mxcsr) << " emulated " << hex(ef.mxcsr) << "\n";
    }
    if (ef.fcw != nf.fcw || ef.fsw != nf.fsw || ef.ftw != nf.ftw) {
        o << "  fcw/fsw/ftw: native " << hex(nf.fcw) << "/" << hex(nf.fsw) << "/" << hex(nf.ftw)
          << " emulated " << hex(ef.fcw) << "/" << hex(ef.fsw) << "/" << hex(ef.ftw) << "\n";
    }
    for (size_t r = 0; r < 16; ++r) {
        if (ef.xmm[r] != nf.xmm[r]) {
            o << "  xmm" << r << ": native " << lanes_hex(nf.xmm[r]) << " emulated "
              << lanes_hex(ef.xmm[r]) << "\n";
        }
    }
    for (size_t r = 0; r < 8; ++r) {
        auto e = std::span(ef.st[r]).first(10), n = std::span(nf.st[r]).first(10);
        if (!std::equal(e.begin(), e.end(), n.begin())) {
            o << "  st" << r << ": native " << lanes_hex(n) << " emulated " << lanes_hex(e) << "\n";
        }
    }
    return o.str();
}

bool loads_segment_register(cpu::OpcodeId id) {
    using cpu::OpcodeId;
    return id == OpcodeId::MOV_SwEw || id == OpcodeId::POP_FS || id == OpcodeId::POP_GS ||
           id == OpcodeId::LFS_GvMp || id == OpcodeId::LGS_GvMp || id == OpcodeId::LSS_GvMp;
}

// The system call rows: the host's kernel has run and returned (RAX its
// answer); the interpreter stops at the kernel's entry. What the CPU did on
// the way in must be what the host returns with: the return address (RCX
// for SYSCALL, the frame's RIP for INT 0x80), the flags (R11, the frame's
// RFLAGS), every other register, memory and the FPU.
std::string system_call_differences(const testing::NativeOutcome& native,
                                    const testing::EmulatedOutcome& emulated) {
    const bool gate = emulated.vector == 0x80;
    if (!emulated.ok || native.signal || !(emulated.system_call || gate)) {
        return differences(native, emulated);
    }
    std::string o;
    if (native.cpu.gpr[RAX] != kEnosys) {
        o += "  the host's kernel answered " + hex(native.cpu.gpr[RAX]) + ", not -ENOSYS\n";
    }
    testing::EmulatedOutcome returned = emulated;
    returned.vector = -1;
    returned.system_call = false;
    if (gate) {
        returned.cpu.rip = emulated.fault_rip;
    } else {
        returned.cpu.rip = emulated.cpu.gpr[RCX];
        returned.cpu.rflags = emulated.cpu.gpr[R11];
    }
    returned.cpu.gpr[RAX] = native.cpu.gpr[RAX];
    return o + differences(native, returned);
}

// CPUID and RDTSC: the values are the machine's (its CPUID table, its
// clock) and so not the host's; they must still be written zero-extended,
// leave everything else alone, and the table's features must be ones the
// host has (KVM runs the guest on it).
std::string environment_read_differences(cpu::OpcodeId id, const CpuState& in,
                                         const testing::NativeOutcome& native,
                                         const testing::EmulatedOutcome& emulated) {
    if (!emulated.ok || native.signal || emulated.vector != -1) {
        return differences(native, emulated);
    }
    std::ostringstream o;
    const bool is_cpuid = id == cpu::OpcodeId::CPUID;
    std::vector<int> written = {RAX, RDX};
    if (is_cpuid) {
        written = {RAX, RBX, RCX, RDX};
    }
    testing::EmulatedOutcome adjusted = emulated;
    for (int r : written) {
        if ((native.cpu.gpr[r] >> 32) != 0 || (emulated.cpu.gpr[r] >> 32) != 0) {
            o << "  " << kGprNames[r] << " not zero-extended: native " << hex(native.cpu.gpr[r])
              << " emulated " << hex(emulated.cpu.gpr[r]) << "\n";
        }
        adjusted.cpu.gpr[r] = native.cpu.gpr[r];
    }
    if (is_cpuid) {
        const uint32_t leaf = static_cast<uint32_t>(in.gpr[RAX]);
        const uint32_t subleaf = static_cast<uint32_t>(in.gpr[RCX]);
        std::vector<int> features;
        if (leaf == 1) {
            features = {RCX, RDX};
        } else if (leaf == 7 && subleaf == 0) {
            features = {RBX, RCX, RDX};
        } else if (leaf == 0x80000001) {
            features = {RCX, RDX};
        } else if (leaf == 0) {
            for (int r : {RBX, RDX, RCX}) {
                if (emulated.cpu.gpr[r] != native.cpu.gpr[r]) {
                    o << "  vendor " << kGprNames[r] << ": native " << hex(native.cpu.gpr[r])
                      << " emulated " << hex(emulated.cpu.gpr[r]) << "\n";
                }
            }
        }
        for (int r : features) {
            uint64_t extra = emulated.cpu.gpr[r] & ~native.cpu.gpr[r];
            if (extra != 0) {
                o << "  leaf " << hex(leaf) << " " << kGprNames[r] << ": features " << hex(extra)
                  << " the host lacks\n";
            }
        }
    }
    return o.str() + differences(native, adjusted);
}

// SYSENTER: the host's state where its kernel was entered (the call
// skipped) against the interpreter's at IA32_SYSENTER_EIP. Nothing is saved
// by the CPU, so RIP and RSP (Linux's stand-ins), RBP (Linux reads the
// 32-bit vDSO's saved EBP from the stack into it) and RAX (Linux's -ENOSYS)
// are not compared; the entry must be a 32-bit one (the SYSENTER MSRs').
std::string system_call_entry_differences(const testing::NativeOutcome& native,
                                          const testing::EmulatedOutcome& emulated) {
    if (!emulated.ok || native.signal || !native.system_call_entry || !emulated.system_call) {
        std::string o = differences(native, emulated);
        if (!native.signal && !native.system_call_entry) {
            o += "  the host's kernel was not entered\n";
        }
        if (emulated.ok && emulated.vector == -1 && !emulated.system_call) {
            o += "  the interpreter did not enter its kernel\n";
        }
        return o;
    }
    std::string o;
    if (!native.system_call_32bit) {
        o += "  the host's kernel was entered through a 64-bit system call entry\n";
    }
    testing::EmulatedOutcome entered = emulated;
    entered.system_call = false;
    entered.cpu.rip = native.cpu.rip;
    for (int r : {RAX, RSP, RBP}) {
        entered.cpu.gpr[r] = native.cpu.gpr[r];
    }
    return o + differences(native, entered);
}

// Leaves of interest for CPUID: the vendor, the feature leaves, the limits.
void choose_cpuid_leaf(CpuState& in, std::mt19937_64& rng) {
    static constexpr uint32_t kLeaves[] = {0, 1, 7, 0x80000000, 0x80000001};
    if (rng() % 4 != 0) {
        in.gpr[RAX] = kLeaves[rng() % std::size(kLeaves)] | (rng() & 0xffffffff00000000ULL);
        in.gpr[RCX] = rng() % 2 ? 0 : in.gpr[RCX];
    }
}

} // namespace

TEST_CASE("instruction sweep: every row the decoder accepts against the host CPU") {
    const auto started = std::chrono::steady_clock::now();
    NativeOracle oracle;
    krr::testing::UserModeMachine machine;
    const uint64_t seed = environment_number("KRR_SWEEP_SEED", kSeed);
    const int states_per_row =
        static_cast<int>(environment_number("KRR_SWEEP_STATES", kStatesPerRow));
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> window(NativeOracle::kWindowSize);

    int rows_compared = 0, rows_undefined = 0, encodings_run = 0, undefined_runs = 0;
    std::map<std::string, std::vector<std::string>> excluded; // reason -> rows
    std::vector<std::string> failing_rows;
    // Rows whose every native run faulted: only their fault is compared
    // (privileged and removed instructions, port I/O at CPL 3).
    std::vector<std::string> fault_only_rows;

    for (int i = 0; i < cpu::kOpcodeCount; ++i) {
        const auto id = static_cast<cpu::OpcodeId>(i);
        const cpu::OpcodeRow& row = cpu::opcode_row(id);
        const std::string name(cpu::opcode_id_name(id));
        const testing::SweepPlan plan = testing::plan_row(row);
        if (plan.treatment == SweepTreatment::Exclude) {
            excluded[std::string(plan.reason)].push_back(name);
            continue;
        }
        const bool undefined = plan.treatment == SweepTreatment::ExpectInvalidOpcode;
        (undefined ? rows_undefined : rows_compared)++;
        int mismatches = 0, completed = 0;
        std::string first_details;
        for (int n = 0; n < (undefined ? kUndefinedChecksPerRow : states_per_row); ++n) {
            std::optional<SweepEncoding> enc;
            for (int attempt = 0; attempt < 200 && !enc; ++attempt) {
                enc = testing::synthesize(row, rng);
            }
            if (!enc) {
                FAIL_CHECK(name << ": no encoding of this row reaches it past the more "
                                   "specific rows of its opcode");
                break;
            }
            const std::string bytes = testing::hex_bytes(enc->code, enc->instruction_length);
            auto decoded = cpu::decode(enc->code, cpu::CpuMode::Bits64);
            // Encodings the CPU rejects (the removed one-byte opcodes, mov cs,
            // sreg 6-7) decode as #UD; running them checks the host agrees.
            const bool rejected = decoded.status == cpu::DecodeStatus::InvalidOpcode &&
                                  (row.family == cpu::InstructionFamily::Invalid ||
                                   id == cpu::OpcodeId::MOV_SwEw || enc->misplaced_lock);
            if (enc->misplaced_lock && !rejected) {
                FAIL_CHECK(name << " [" << bytes << "]: LOCK here must decode as #UD");
                continue;
            }
            if (!rejected && !decoded.ok()) {
                FAIL_CHECK(name << " [" << bytes << "]: " << decoded.error_text());
                continue;
            }
            if (!rejected && (decoded.instruction.opcode != id ||
                              decoded.instruction.length != enc->instruction_length)) {
                FAIL_CHECK(name << " [" << bytes << "]: decodes as "
                                << cpu::opcode_id_name(decoded.instruction.opcode) << " length "
                                << int(decoded.instruction.length) << ", expected length "
                                << enc->instruction_length);
                continue;
            }

            CpuState in = random_state(rng, *enc);
            // The gates Linux opens to CPL 3 (#BP, #OF, the 32-bit system
            // call) are 3 of 256 immediates: draw them often.
            if (id == cpu::OpcodeId::INT_Ib && rng() % 4 == 0) {
                static constexpr uint8_t kOpenGates[] = {3, 4, 0x80};
                enc->code[enc->instruction_length - 1] = kOpenGates[rng() % 3];
            }
            const bool system_call =
                plan.treatment == SweepTreatment::CompareSystemCall ||
                plan.treatment == SweepTreatment::CompareSystemCallEntry ||
                (id == cpu::OpcodeId::INT_Ib && enc->code[enc->instruction_length - 1] == 0x80);
            if (system_call) {
                in.gpr[RAX] = kInvalidSystemCall;
            }
            if (id == cpu::OpcodeId::CPUID) {
                choose_cpuid_leaf(in, rng);
            }
            for (size_t b = 0; b < window.size(); b += 8) {
                uint64_t v = rng();
                std::memcpy(window.data() + b, &v, 8);
            }
            for (const auto& setting : enc->window) {
                for (size_t b = 0; b < setting.bytes.size(); ++b) {
                    if (setting.offset + b < window.size()) {
                        window[setting.offset + b] = setting.bytes[b];
                    }
                }
            }

            if (undefined) {
                ++undefined_runs;
                auto emulated = machine.run(enc->code, in, window);
                if (!emulated.ok || emulated.vector != kInvalidOpcode ||
                    emulated.fault_rip != NativeOracle::kCodeAddress) {
                    FAIL_CHECK(name << " [" << bytes << "] (" << plan.reason
                                    << "): expected #UD at the instruction, got "
                                    << (emulated.ok ? "vector " + std::to_string(emulated.vector)
                                                    : emulated.error));
                }
                continue;
            }

            ++encodings_run;
            std::vector<uint8_t> native_code(enc->code.begin(), enc->code.end());
            if (plan.treatment == SweepTreatment::CompareWithoutRepeat) {
                for (uint8_t& b : native_code) {
                    if (b == 0x0f || (b & 0xf0) == 0x40) {
                        break; // the end of the legacy prefixes
                    }
                    if (b == 0xf2 || b == 0xf3) {
                        b = 0x3e;
                    }
                }
            }
            std::string diff;
            {
                const bool entry_only = plan.treatment == SweepTreatment::CompareSystemCallEntry;
                auto native = oracle.run(native_code, in, window,
                                         entry_only ? testing::SystemCalls::StopAtEntry
                                                    : testing::SystemCalls::Run);
                auto emulated = machine.run(enc->code, in, window);
                if (loads_segment_register(id)) {
                    oracle.run(kSegmentReset, CpuState{});
                }
                completed += native.signal == 0 ? 1 : 0;
                if (entry_only) {
                    diff = system_call_entry_differences(native, emulated);
                } else if (system_call) {
                    diff = system_call_differences(native, emulated);
                } else if (plan.treatment == SweepTreatment::CompareEnvironmentRead) {
                    diff = environment_read_differences(id, in, native, emulated);
                } else {
                    diff = differences(native, emulated);
                }
            }
            if (!diff.empty()) {
                if (mismatches++ < kDetailedFailuresPerRow) {
                    first_details += "  encoding [" + bytes + "] snippet [" +
                                     testing::hex_bytes(enc->code, enc->code.size()) +
                                     "]\n  input: " + describe_state(in) + "\n" + diff;
                }
            }
        }
        if (!undefined && completed == 0) {
            fault_only_rows.push_back(name);
        }
        if (mismatches > 0) {
            failing_rows.push_back(name);
            FAIL_CHECK(name << ": " << mismatches << " of " << states_per_row << " runs differ\n"
                            << first_details);
        }
    }

    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::ostringstream summary;
    int excluded_rows = 0;
    for (const auto& [reason, rows] : excluded) {
        excluded_rows += static_cast<int>(rows.size());
    }
    summary << "instruction sweep (seed " << seed << "): " << cpu::kOpcodeCount
            << " rows in the table; " << rows_compared << " compared with the host ("
            << encodings_run << " encodings run), " << rows_undefined << " checked for #UD ("
            << undefined_runs << " runs), " << excluded_rows << " excluded; " << failing_rows.size()
            << " rows mismatch; " << seconds << " s\n";
    for (const auto& [reason, rows] : excluded) {
        summary << "  excluded (" << reason << "):";
        for (const auto& r : rows) {
            summary << " " << r;
        }
        summary << "\n";
    }
    summary << "  " << fault_only_rows.size() << " compared rows faulted in every run:";
    for (const auto& r : fault_only_rows) {
        summary << " " << r;
    }
    summary << "\n";
    MESSAGE(summary.str());
    CHECK(rows_compared > 0);
    CHECK(encodings_run >= rows_compared * states_per_row / 2);
    CHECK(failing_rows.empty());
}
