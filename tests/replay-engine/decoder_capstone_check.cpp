// Cross-check of krr's decoder against capstone over real code: busybox's
// executable sections and the default guest kernel's text, function by
// function. Every instruction must have the same length and the same
// mnemonic class in both (normalization below, documented in
// docs/emulator.md), and where they agree on that, the same register,
// memory and immediate operands. Exits 0 on agreement, 1 on any mismatch, 77 (meson's
// "skipped") when an input is missing, so a missing kernel is never a pass.
#include "guest-model/error.h"
#include "guest-model/kernel_image.h"
#include "guest-model/machine_state.h"
#include "guest-model/symbols.h"
#include "replay-engine/cpu/decoder.h"

#include <algorithm>
#include <capstone/capstone.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <gelf.h>
#include <iterator>
#include <libelf.h>
#include <map>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace {

using krr::cpu::DecodeStatus;

struct CodeSection {
    std::string name;
    uint64_t address = 0;
    std::vector<uint8_t> bytes;
};

// capstone's condition-code spellings that differ from krr's.
const std::map<std::string, std::string, std::less<>> kConditionAliases = {
    {"z", "e"},   {"nz", "ne"}, {"c", "b"},   {"nae", "b"}, {"nb", "ae"},
    {"nc", "ae"}, {"na", "be"}, {"nbe", "a"}, {"pe", "p"},  {"po", "np"},
    {"nge", "l"}, {"nl", "ge"}, {"ng", "le"}, {"nle", "g"},
};

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The mnemonic class of an instruction as capstone spells it.
std::string capstone_class(std::string_view mnemonic) {
    // Prefixes capstone prints as part of the mnemonic.
    for (bool stripped = true; stripped;) {
        stripped = false;
        for (std::string_view prefix : {"lock ", "rep ", "repe ", "repz ", "repne ", "repnz ",
                                        "notrack ", "bnd ", "xacquire ", "xrelease "}) {
            if (starts_with(mnemonic, prefix)) {
                mnemonic.remove_prefix(prefix.size());
                stripped = true;
            }
        }
    }
    std::string m(mnemonic);
    if (m == "movabs") {
        return "mov";
    }
    if (m == "ud2b") {
        return "ud1";
    }
    for (std::string_view family : {"j", "set", "cmov"}) {
        if (starts_with(m, family)) {
            auto alias = kConditionAliases.find(m.substr(family.size()));
            if (alias != kConditionAliases.end()) {
                return std::string(family) + alias->second;
            }
        }
    }
    // cmpps with its predicate folded into the name: cmpltps, cmpneqsd, ...
    if (starts_with(m, "cmp") && m.size() > 5) {
        for (std::string_view form : {"ps", "pd", "ss", "sd"}) {
            std::string_view predicate = std::string_view(m).substr(3, m.size() - 5);
            for (std::string_view known : {"eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord"}) {
                if (ends_with(m, form) && predicate == known) {
                    return "cmp" + std::string(form);
                }
            }
        }
    }
    // pclmulqdq with its selector folded in: pclmullqhqdq, ...
    if (starts_with(m, "pclmul") && ends_with(m, "qdq")) {
        return "pclmulqdq";
    }
    return m;
}

// VEX/EVEX instructions: krr decodes them for length only (the masked CPU
// has no AVX), so their class is "vex-encoded"; capstone's mnemonic must be
// one of the VEX-only spellings (v..., BMI/BMI2 and AVX-512 mask ops).
bool capstone_is_vex_spelling(std::string_view m) {
    if (starts_with(m, "v") || starts_with(m, "k") || starts_with(m, "tile") ||
        starts_with(m, "tdp") || m == "ldtilecfg" || m == "sttilecfg") {
        return true;
    }
    for (std::string_view bmi : {"andn", "bextr", "blsi", "blsmsk", "blsr", "bzhi", "mulx", "pdep",
                                 "pext", "rorx", "sarx", "shlx", "shrx"}) {
        if (m == bmi) {
            return true;
        }
    }
    return false;
}

// The allowlist: disagreements where capstone 4.0.2 is wrong. Each names
// the capstone defect; every occurrence must also be confirmed by a second
// disassembler (binutils objdump) agreeing with krr on length and class,
// else it counts as a mismatch.
const char* known_capstone_defect(const std::string& ours, const std::string& theirs,
                                  bool theirs_ok, bool our_vex, size_t our_length,
                                  size_t their_length) {
    if (!theirs_ok && our_vex) {
        return "capstone 4.0.2 lacks AVX-512BW/VL, mask-register and AMX encodings";
    }
    if (!theirs_ok) {
        for (std::string_view newer :
             {"rdpkru", "wrpkru", "serialize", "monitorx", "mwaitx", "tpause", "umonitor", "umwait",
              "rdsspd", "rdsspq", "incsspd", "incsspq", "pvalidate", "psmash", "rmpadjust",
              "rmpupdate"}) {
            if (ours == newer) {
                return "capstone 4.0.2 does not know this instruction";
            }
        }
    }
    if (ours == "ud1" && theirs == "ud1" && their_length < our_length) {
        return "capstone 4.0.2 decodes UD1 (0F B9) without its ModRM";
    }
    // RDPID is F3 0F C7 /7 and INCSSP F3 0F AE /5 (SDM vol. 2); capstone
    // drops the F3 and prints the unprefixed instruction.
    if (our_length == their_length &&
        ((ours == "rdpid" && theirs == "rdseed") ||
         ((ours == "incsspd" || ours == "incsspq") && theirs == "lfence"))) {
        return "capstone 4.0.2 ignores a mandatory F3 (rdpid, incssp)";
    }
    return nullptr;
}

struct PendingConfirmation {
    std::string defect;
    std::string where;
    std::vector<uint8_t> bytes; // krr's length
    std::string krr_class;
    bool vex = false;
    std::string capstone;
};

// How many mismatches are listed in full (KRR_DECODER_CHECK_SHOW overrides).
size_t kShownMismatches = 20;

struct Mismatch {
    std::string where;
    std::vector<uint8_t> bytes;
    std::string krr;
    std::string capstone;
};

struct Tally {
    uint64_t checked = 0;
    uint64_t both_undecodable = 0; // decoding of that range stops there
    std::vector<std::string> undecodable_places;
    uint64_t spanning_symbols = 0; // instructions that continue into the next range
    std::vector<PendingConfirmation> pending;
    std::map<std::string, uint64_t> confirmed_capstone_defects;
    uint64_t unsupported_by_masked_cpu = 0;
    std::map<std::string, uint64_t> mismatches_by_mnemonic;
    std::vector<Mismatch> first_mismatches;
    uint64_t mismatches = 0;
    // Instructions of the same length and class whose operands differ.
    uint64_t operand_mismatches = 0;
    std::map<std::string, uint64_t> operand_mismatches_by_mnemonic;
    std::vector<Mismatch> first_operand_mismatches;
};

std::string hex_bytes(const std::vector<uint8_t>& bytes) {
    std::string out;
    char buf[4];
    for (uint8_t b : bytes) {
        std::snprintf(buf, sizeof buf, "%02x ", b);
        out += buf;
    }
    if (!out.empty()) {
        out.pop_back();
    }
    return out;
}

// krr's name for a register operand, spelled as capstone spells registers.
std::string register_name(const krr::cpu::Operand& op) {
    using krr::cpu::OperandKind;
    static const char* const k64[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    static const char* const k32[] = {"eax", "ecx", "edx",  "ebx",  "esp",  "ebp",  "esi",  "edi",
                                      "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
    static const char* const k16[] = {"ax",  "cx",  "dx",   "bx",   "sp",   "bp",   "si",   "di",
                                      "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"};
    static const char* const k8[] = {"al",  "cl",  "dl",   "bl",   "spl",  "bpl",  "sil",  "dil",
                                     "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"};
    static const char* const kHigh[] = {"ah", "ch", "dh", "bh"};
    static const char* const kSegments[] = {"es", "cs", "ss", "ds", "fs", "gs"};
    const int r = op.reg & 15;
    switch (op.kind) {
    case OperandKind::Gpr:
        return op.size == 8 ? k64[r] : op.size == 4 ? k32[r] : op.size == 2 ? k16[r] : k8[r];
    case OperandKind::GprHighByte:
        return kHigh[op.reg & 3];
    case OperandKind::Segment:
        return op.reg < 6 ? kSegments[op.reg] : "?";
    case OperandKind::Control:
        return "cr" + std::to_string(op.reg);
    case OperandKind::Debug:
        return "dr" + std::to_string(op.reg);
    case OperandKind::X87:
        return "st(" + std::to_string(op.reg) + ")";
    case OperandKind::Mmx:
        return "mm" + std::to_string(op.reg);
    case OperandKind::Xmm:
        return "xmm" + std::to_string(op.reg);
    default:
        return "";
    }
}

class CrossChecker {
public:
    CrossChecker() {
        if (cs_open(CS_ARCH_X86, CS_MODE_64, &capstone_) != CS_ERR_OK) {
            throw krr::Error("capstone", "cs_open failed");
        }
        cs_option(capstone_, CS_OPT_DETAIL, CS_OPT_ON);
        insn_ = cs_malloc(capstone_);
    }
    ~CrossChecker() {
        cs_free(insn_, 1);
        cs_close(&capstone_);
    }
    CrossChecker(const CrossChecker&) = delete;
    CrossChecker& operator=(const CrossChecker&) = delete;

    // Decodes [begin, end) of `section` with both decoders in lock step.
    // Stops at the first offset neither can decode (data or padding after
    // the last instruction), counting it.
    void check_range(const CodeSection& section, size_t begin, size_t end, const std::string& label,
                     Tally& tally) {
        size_t offset = begin;
        while (offset < end) {
            std::span<const uint8_t> bytes(section.bytes.data() + offset, end - offset);
            krr::cpu::DecodeResult ours = krr::cpu::decode(bytes, krr::cpu::CpuMode::Bits64);
            if (ours.status == DecodeStatus::Truncated && end < section.bytes.size()) {
                // An instruction that runs into the next symbol on purpose
                // (the return thunks hidden inside an immediate of
                // retbleed_untrain_ret / srso_untrain_ret): check it whole.
                bytes = std::span<const uint8_t>(section.bytes.data() + offset,
                                                 section.bytes.size() - offset);
                ours = krr::cpu::decode(bytes, krr::cpu::CpuMode::Bits64);
                ++tally.spanning_symbols;
            }
            const uint8_t* code = bytes.data();
            size_t code_size = bytes.size();
            uint64_t address = section.address + offset;
            bool theirs_ok = cs_disasm_iter(capstone_, &code, &code_size, &address, insn_);
            if (!ours.ok() && !theirs_ok) {
                ++tally.both_undecodable;
                if (tally.undecodable_places.size() < kShownMismatches) {
                    size_t shown = std::min<size_t>(8, end - offset);
                    char where[200];
                    std::snprintf(where, sizeof where,
                                  "%s @ %#llx (%zu bytes left in range): ", label.c_str(),
                                  static_cast<unsigned long long>(section.address + offset),
                                  end - offset);
                    tally.undecodable_places.push_back(
                        where +
                        hex_bytes(std::vector<uint8_t>(bytes.begin(), bytes.begin() + shown)) +
                        " (krr: " + ours.error_text() + ")");
                }
                return;
            }
            ++tally.checked;
            std::string our_class = ours.ok() ? std::string(krr::cpu::mnemonic(ours.instruction))
                                              : "<" + ours.error_text() + ">";
            std::string their_class = theirs_ok ? capstone_class(insn_->mnemonic) : "<invalid>";
            size_t our_length = ours.ok() ? ours.instruction.length : 0;
            size_t their_length = theirs_ok ? insn_->size : 0;
            if (ours.ok() && !ours.instruction.supported) {
                ++tally.unsupported_by_masked_cpu;
            }
            bool same_class = our_class == their_class;
            if (ours.ok() && ours.instruction.vex.present && theirs_ok) {
                same_class = capstone_is_vex_spelling(their_class);
            }
            const char* defect =
                same_class && our_length == their_length
                    ? nullptr
                    : known_capstone_defect(our_class, their_class, theirs_ok,
                                            ours.ok() && ours.instruction.vex.present, our_length,
                                            their_length);
            if (defect != nullptr) {
                char where[160];
                std::snprintf(where, sizeof where, "%s @ %#llx", label.c_str(),
                              static_cast<unsigned long long>(section.address + offset));
                tally.pending.push_back(
                    {defect, where, std::vector<uint8_t>(bytes.begin(), bytes.begin() + our_length),
                     our_class, ours.instruction.vex.present,
                     their_class + " (" + std::to_string(their_length) + " bytes)"});
            } else if (!same_class || our_length != their_length) {
                ++tally.mismatches;
                ++tally.mismatches_by_mnemonic[their_class + " / krr " + our_class];
                if (tally.first_mismatches.size() < kShownMismatches) {
                    size_t shown = std::min<size_t>(std::max(our_length, their_length), 15);
                    shown = std::min(std::max<size_t>(shown, 4), end - offset);
                    char where[160];
                    std::snprintf(where, sizeof where, "%s @ %#llx", label.c_str(),
                                  static_cast<unsigned long long>(section.address + offset));
                    tally.first_mismatches.push_back(
                        {where, std::vector<uint8_t>(bytes.begin(), bytes.begin() + shown),
                         our_class + " (" + std::to_string(our_length) + " bytes)",
                         their_class + " (" + std::to_string(their_length) + " bytes)"});
                }
            } else if (ours.ok() && theirs_ok && !ours.instruction.vex.present) {
                std::string difference =
                    operand_difference(ours.instruction, section.address + offset);
                if (!difference.empty()) {
                    ++tally.operand_mismatches;
                    ++tally.operand_mismatches_by_mnemonic[our_class];
                    if (tally.first_operand_mismatches.size() < kShownMismatches) {
                        char where[160];
                        std::snprintf(where, sizeof where, "%s @ %#llx", label.c_str(),
                                      static_cast<unsigned long long>(section.address + offset));
                        tally.first_operand_mismatches.push_back(
                            {where, std::vector<uint8_t>(bytes.begin(), bytes.begin() + our_length),
                             our_class,
                             std::string(insn_->mnemonic) + " " + insn_->op_str + ": " +
                                 difference});
                    }
                }
            }
            size_t step = std::max(our_length, their_length);
            offset += step == 0 ? 1 : step;
        }
    }

private:
    // Compares krr's operands with capstone's details of the same
    // instruction: register operands in order, the memory reference, and
    // immediates (relative ones as capstone's absolute targets). Returns
    // what differs, or "".
    std::string operand_difference(const krr::cpu::DecodedInstruction& ours, uint64_t address) {
        using krr::cpu::OperandKind;
        const cs_x86& x86 = insn_->detail->x86;
        std::vector<std::string> our_registers, their_registers;
        std::vector<uint64_t> our_immediates, their_immediates;
        std::vector<uint8_t> our_immediate_sizes;
        std::vector<uint8_t> their_immediate_sizes;
        const cs_x86_op* their_memory = nullptr;
        int their_memory_count = 0;
        bool our_memory = false;
        bool string_operands = false;
        for (int i = 0; i < ours.operand_count; ++i) {
            const krr::cpu::Operand& op = ours.operands[i];
            std::string name = register_name(op);
            if (!name.empty()) {
                our_registers.push_back(name);
            } else if (op.kind == OperandKind::Immediate) {
                our_immediates.push_back(ours.immediate[op.reg]);
                our_immediate_sizes.push_back(static_cast<uint8_t>(op.size));
            } else if (op.kind == OperandKind::ConstantOne) {
                // capstone lists the 1 of shift-by-one as an immediate.
                our_immediates.push_back(1);
                our_immediate_sizes.push_back(1);
            } else if (op.kind == OperandKind::Relative) {
                our_immediates.push_back(address + ours.length + ours.immediate[op.reg]);
                our_immediate_sizes.push_back(8);
            } else if (op.kind == OperandKind::Memory) {
                our_memory = true;
            } else if (op.kind == OperandKind::StringSource ||
                       op.kind == OperandKind::StringDestination) {
                string_operands = true;
            }
        }
        for (int i = 0; i < x86.op_count; ++i) {
            const cs_x86_op& op = x86.operands[i];
            if (op.type == X86_OP_REG) {
                their_registers.push_back(cs_reg_name(capstone_, op.reg));
            } else if (op.type == X86_OP_IMM) {
                their_immediates.push_back(static_cast<uint64_t>(op.imm));
                their_immediate_sizes.push_back(op.size);
            } else if (op.type == X86_OP_MEM) {
                their_memory = &op;
                ++their_memory_count;
            }
        }
        if (string_operands) {
            return ""; // capstone lists implicit string operands its own way
        }
        // capstone leaves out an implicit ST(0) in some x87 forms; compare
        // the other stack registers.
        for (auto* list : {&our_registers, &their_registers}) {
            list->erase(std::remove(list->begin(), list->end(), "st(0)"), list->end());
        }
        // The two operands of xchg are interchangeable (90+r is listed both
        // ways in the SDM).
        if (insn_->id == X86_INS_XCHG) {
            std::sort(our_registers.begin(), our_registers.end());
            std::sort(their_registers.begin(), their_registers.end());
        }
        if (our_registers != their_registers) {
            std::string text = "registers krr";
            for (const std::string& r : our_registers) {
                text += " " + r;
            }
            text += ", capstone";
            for (const std::string& r : their_registers) {
                text += " " + r;
            }
            return text;
        }
        if (our_immediates.size() != their_immediates.size()) {
            return "immediate count " + std::to_string(our_immediates.size()) + " vs " +
                   std::to_string(their_immediates.size());
        }
        for (size_t i = 0; i < our_immediates.size(); ++i) {
            // capstone sizes some immediates by the operand, others by the
            // encoding, and sign-extends some imm8; compare in the narrower
            // width (sign extension itself is unit-tested).
            const int bits =
                8 * std::max<int>(std::min(their_immediate_sizes[i], our_immediate_sizes[i]), 1);
            const uint64_t mask = bits >= 64 ? ~0ULL : (1ULL << bits) - 1;
            if ((our_immediates[i] & mask) != (their_immediates[i] & mask)) {
                char text[96];
                std::snprintf(text, sizeof text, "immediate %#llx vs %#llx",
                              static_cast<unsigned long long>(our_immediates[i]),
                              static_cast<unsigned long long>(their_immediates[i]));
                return text;
            }
        }
        if (our_memory != (their_memory_count == 1)) {
            return "memory operand presence";
        }
        if (our_memory) {
            const x86_op_mem& m = their_memory->mem;
            const krr::cpu::MemoryReference& mine = ours.memory;
            krr::cpu::Operand gpr{OperandKind::Gpr, 0,
                                  static_cast<uint16_t>(ours.address_size / 8)};
            auto name_of = [&](uint8_t reg) {
                gpr.reg = reg;
                return reg == krr::cpu::kNoRegister ? std::string("none") : register_name(gpr);
            };
            std::string our_base =
                mine.rip_relative ? (ours.address_size == 64 ? "rip" : "eip") : name_of(mine.base);
            std::string their_base =
                m.base == X86_REG_INVALID ? "none" : cs_reg_name(capstone_, m.base);
            std::string their_index =
                m.index == X86_REG_INVALID ? "none" : cs_reg_name(capstone_, m.index);
            if (our_base != their_base || name_of(mine.index) != their_index ||
                (mine.index != krr::cpu::kNoRegister && mine.scale != m.scale) ||
                mine.displacement != m.disp) {
                char text[160];
                std::snprintf(text, sizeof text, "memory krr [%s + %s*%d + %#llx]",
                              our_base.c_str(), name_of(mine.index).c_str(), mine.scale,
                              static_cast<unsigned long long>(mine.displacement));
                return text;
            }
            const bool their_fs_gs = m.segment == X86_REG_FS || m.segment == X86_REG_GS;
            const bool our_fs_gs = mine.segment == krr::FS || mine.segment == krr::GS;
            if (their_fs_gs != our_fs_gs ||
                (our_fs_gs && (mine.segment == krr::FS) != (m.segment == X86_REG_FS))) {
                return "segment";
            }
        }
        return "";
    }

    csh capstone_ = 0;
    cs_insn* insn_ = nullptr;
};

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw krr::Error("read " + path, "cannot open");
    }
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The executable sections of an ELF image, and its function symbols if any.
std::vector<CodeSection> code_sections(std::vector<uint8_t>& image, const std::string& name) {
    elf_version(EV_CURRENT);
    Elf* elf = elf_memory(reinterpret_cast<char*>(image.data()), image.size());
    if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
        throw krr::Error("elf " + name, elf_errmsg(-1));
    }
    size_t section_names = 0;
    elf_getshdrstrndx(elf, &section_names);
    std::vector<CodeSection> sections;
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr header;
        gelf_getshdr(scn, &header);
        if (!(header.sh_flags & SHF_EXECINSTR) || header.sh_type != SHT_PROGBITS) {
            continue;
        }
        if (header.sh_offset + header.sh_size > image.size()) {
            throw krr::Error("elf " + name, "section past the end of the file");
        }
        CodeSection section;
        const char* section_name = elf_strptr(elf, section_names, header.sh_name);
        section.name = section_name != nullptr ? section_name : "?";
        section.address = header.sh_addr;
        section.bytes.assign(image.begin() + static_cast<long>(header.sh_offset),
                             image.begin() + static_cast<long>(header.sh_offset + header.sh_size));
        sections.push_back(std::move(section));
    }
    elf_end(elf);
    return sections;
}

// Asks objdump about every allowlisted disagreement at once: the
// instructions are laid end to end with krr's lengths, so objdump confirms
// krr only if it finds an instruction starting exactly at each one, of the
// same class. Unconfirmed ones become mismatches.
void confirm_with_objdump(Tally& tally) {
    if (tally.pending.empty()) {
        return;
    }
    char path[] = "/tmp/krr-decoder-check-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        throw krr::Error("objdump confirmation", "cannot create a temporary file");
    }
    std::vector<size_t> starts;
    std::vector<uint8_t> blob;
    for (const PendingConfirmation& p : tally.pending) {
        starts.push_back(blob.size());
        blob.insert(blob.end(), p.bytes.begin(), p.bytes.end());
    }
    bool written = write(fd, blob.data(), blob.size()) == static_cast<ssize_t>(blob.size());
    close(fd);
    std::map<size_t, std::string> objdump_mnemonics; // instruction start -> mnemonic
    if (written) {
        std::string command =
            std::string("objdump -D -b binary -m i386:x86-64 -M intel ") + path + " 2>/dev/null";
        if (FILE* out = popen(command.c_str(), "r"); out != nullptr) {
            char line[512];
            while (std::fgets(line, sizeof line, out) != nullptr) {
                // "   1f:\t0f 01 ee             \trdpkru" (continuation lines have one tab)
                char* first_tab = std::strchr(line, '\t');
                char* second_tab = first_tab ? std::strchr(first_tab + 1, '\t') : nullptr;
                char* end = nullptr;
                unsigned long offset = std::strtoul(line, &end, 16);
                if (second_tab == nullptr || end == line || *end != ':') {
                    continue;
                }
                std::string text(second_tab + 1);
                while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
                    text.pop_back();
                }
                // Keep prefixes with the mnemonic, drop the operands.
                std::string mnemonic;
                size_t at = 0;
                for (;;) {
                    size_t space = text.find_first_of(" ", at);
                    std::string word =
                        text.substr(at, space == std::string::npos ? space : space - at);
                    mnemonic += (mnemonic.empty() ? "" : " ") + word;
                    bool is_prefix = word == "lock" || word == "rep" || word == "repz" ||
                                     word == "repnz" || word == "notrack" || word == "bnd";
                    if (!is_prefix || space == std::string::npos) {
                        break;
                    }
                    at = text.find_first_not_of(" ", space);
                }
                objdump_mnemonics[offset] = mnemonic;
            }
            pclose(out);
        }
    }
    unlink(path);
    for (size_t i = 0; i < tally.pending.size(); ++i) {
        const PendingConfirmation& p = tally.pending[i];
        size_t next = starts[i] + p.bytes.size();
        auto found = objdump_mnemonics.find(starts[i]);
        auto after = found == objdump_mnemonics.end() ? found : std::next(found);
        bool same_length =
            found != objdump_mnemonics.end() &&
            (after == objdump_mnemonics.end() ? next == blob.size() : after->first == next);
        std::string objdump_class =
            found == objdump_mnemonics.end() ? "<none>" : capstone_class(found->second);
        bool same_class =
            p.vex ? capstone_is_vex_spelling(objdump_class) : objdump_class == p.krr_class;
        if (same_length && same_class && objdump_class != "(bad)") {
            ++tally.confirmed_capstone_defects[p.defect];
            continue;
        }
        ++tally.mismatches;
        ++tally.mismatches_by_mnemonic[p.capstone + " / krr " + p.krr_class + " / objdump " +
                                       objdump_class];
        if (tally.first_mismatches.size() < kShownMismatches) {
            tally.first_mismatches.push_back(
                {p.where, p.bytes, p.krr_class, p.capstone + ", objdump " + objdump_class});
        }
    }
}

void print_tally(const char* corpus, const Tally& tally) {
    std::printf("%s: %llu instructions checked, %llu mismatches, "
                "%llu not supported by the masked CPU, %llu crossing into the next symbol, "
                "%llu ranges ended at bytes neither decoder accepts\n",
                corpus, static_cast<unsigned long long>(tally.checked),
                static_cast<unsigned long long>(tally.mismatches),
                static_cast<unsigned long long>(tally.unsupported_by_masked_cpu),
                static_cast<unsigned long long>(tally.spanning_symbols),
                static_cast<unsigned long long>(tally.both_undecodable));
    for (const auto& [mnemonic, count] : tally.mismatches_by_mnemonic) {
        std::printf("  mismatch %-40s %llu\n", mnemonic.c_str(),
                    static_cast<unsigned long long>(count));
    }
    for (const auto& [defect, count] : tally.confirmed_capstone_defects) {
        std::printf("  allowed (objdump agrees with krr): %s: %llu\n", defect.c_str(),
                    static_cast<unsigned long long>(count));
    }
    std::printf("  operands: %llu instructions differ\n",
                static_cast<unsigned long long>(tally.operand_mismatches));
    for (const auto& [mnemonic, count] : tally.operand_mismatches_by_mnemonic) {
        std::printf("  operand mismatch %-30s %llu\n", mnemonic.c_str(),
                    static_cast<unsigned long long>(count));
    }
    for (const Mismatch& m : tally.first_operand_mismatches) {
        std::printf("  %s: %s: krr %s; capstone %s\n", m.where.c_str(), hex_bytes(m.bytes).c_str(),
                    m.krr.c_str(), m.capstone.c_str());
    }
    for (const std::string& place : tally.undecodable_places) {
        std::printf("  range ends at undecodable bytes: %s\n", place.c_str());
    }
    for (const Mismatch& m : tally.first_mismatches) {
        std::printf("  %s: %s: krr %s, capstone %s\n", m.where.c_str(), hex_bytes(m.bytes).c_str(),
                    m.krr.c_str(), m.capstone.c_str());
    }
}

std::string cache_directory() {
    if (const char* cache = std::getenv("KRR_CACHE"); cache != nullptr && *cache != '\0') {
        return cache;
    }
    const char* home = std::getenv("HOME");
    return std::string(home != nullptr ? home : "") + "/.cache/krr";
}

bool file_exists(const std::string& path) {
    return std::ifstream(path).good();
}

// Busybox is stripped: each executable section is one linear range.
bool check_busybox(CrossChecker& checker, Tally& tally) {
    std::string path = cache_directory() + "/busybox";
    if (!file_exists(path)) {
        path = "/bin/busybox";
    }
    if (!file_exists(path)) {
        std::printf("busybox: not found (looked in $KRR_CACHE/busybox and /bin/busybox)\n");
        return false;
    }
    std::vector<uint8_t> image = read_file(path);
    for (const CodeSection& section : code_sections(image, path)) {
        checker.check_range(section, 0, section.bytes.size(), "busybox " + section.name, tally);
    }
    return true;
}

// The kernel: every executable section, split at each text symbol of
// System.map, so a range never runs from one function into the next.
bool check_kernel(CrossChecker& checker, Tally& tally) {
    std::string directory = cache_directory() + "/kernels/default";
    std::string vmlinuz = directory + "/vmlinuz";
    std::string system_map = directory + "/System.map";
    if (!file_exists(vmlinuz) || !file_exists(system_map)) {
        std::printf("kernel: %s or %s not found (run scripts/provision-guest)\n", vmlinuz.c_str(),
                    system_map.c_str());
        return false;
    }
    std::vector<uint8_t> vmlinux = krr::KernelImage::load(vmlinuz).decompress_vmlinux();
    krr::SymbolTable symbols = krr::SymbolTable::load(system_map);
    std::vector<const krr::Symbol*> starts;
    for (const krr::Symbol& symbol : symbols.symbols()) {
        char type = static_cast<char>(symbol.type | 0x20);
        if (type == 't' || type == 'w') {
            starts.push_back(&symbol);
        }
    }
    // Functions of the 64-bit kernel that are 32-bit code (.code32): the PVH
    // entry point, entered by a hypervisor in 32-bit protected mode. krr
    // decodes only 64-bit mode so far, so they are skipped, and counted.
    const std::vector<std::string_view> thirty_two_bit_code = {"pvh_start_xen"};
    uint64_t functions = 0;
    uint64_t skipped = 0;
    for (const CodeSection& section : code_sections(vmlinux, "vmlinux")) {
        uint64_t section_end = section.address + section.bytes.size();
        std::vector<uint64_t> cuts = {section.address};
        std::vector<std::string> names = {section.name};
        for (const krr::Symbol* symbol : starts) {
            if (symbol->address > section.address && symbol->address < section_end &&
                symbol->address != cuts.back()) {
                cuts.push_back(symbol->address);
                names.push_back(symbol->name);
            } else if (symbol->address == section.address) {
                names[0] = symbol->name;
            }
        }
        cuts.push_back(section_end);
        for (size_t i = 0; i + 1 < cuts.size(); ++i) {
            if (std::find(thirty_two_bit_code.begin(), thirty_two_bit_code.end(), names[i]) !=
                thirty_two_bit_code.end()) {
                ++skipped;
                continue;
            }
            checker.check_range(section, cuts[i] - section.address, cuts[i + 1] - section.address,
                                names[i], tally);
            ++functions;
        }
    }
    std::printf("kernel: %llu ranges (functions and section heads) checked, %llu skipped as "
                "32-bit code\n",
                static_cast<unsigned long long>(functions),
                static_cast<unsigned long long>(skipped));
    return true;
}

} // namespace

int main() {
    if (const char* show = std::getenv("KRR_DECODER_CHECK_SHOW"); show != nullptr) {
        kShownMismatches = std::strtoul(show, nullptr, 10);
    }
    try {
        CrossChecker checker;
        Tally busybox;
        Tally kernel;
        bool have_busybox = check_busybox(checker, busybox);
        if (have_busybox) {
            confirm_with_objdump(busybox);
            print_tally("busybox", busybox);
        }
        bool have_kernel = check_kernel(checker, kernel);
        if (have_kernel) {
            confirm_with_objdump(kernel);
            print_tally("kernel", kernel);
        }
        if (busybox.mismatches + kernel.mismatches > 0) {
            return 1;
        }
        if (busybox.operand_mismatches + kernel.operand_mismatches > 0) {
            return 1;
        }
        // Bytes neither decoder accepts inside a function are not a
        // disagreement, but no known case is left that explains them.
        if (busybox.both_undecodable + kernel.both_undecodable > 0) {
            std::printf("FAIL: code neither decoder accepts, in a range not known to hold data\n");
            return 1;
        }
        if (!have_busybox || !have_kernel) {
            std::printf("SKIP: an input is missing; the cross-check did not run completely\n");
            return 77;
        }
        return 0;
    } catch (const std::exception& e) {
        std::printf("error: %s\n", e.what());
        return 1;
    }
}
