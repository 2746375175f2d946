// The decoder against two references over the opcode space rather than
// over compiled code: every one-byte, 0F, 0F 38 and 0F 3A opcode under
// several prefixes and ModRM/SIB forms. Wherever capstone and binutils
// objdump agree on an instruction's length, krr must agree too (one
// documented exception: 66 on near branches, where both follow AMD and krr
// follows Intel). Encodings krr rejects but both references decode are
// counted and listed, not failed: many are deliberate (#UD for LOCK on
// non-lockable forms, MOV CS, ...), the rest are instructions not in the
// table yet. Run in 64-bit, 32-bit and 16-bit mode (the last two for the
// code that starts a CPU). Exits 77 (skipped) without objdump.
#include "replay-engine/cpu/decoder.h"

#include <capstone/capstone.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using krr::cpu::DecodeStatus;

constexpr size_t kSlot = 16; // bytes per case: the encoding, then NOP filler

struct Case {
    size_t offset = 0;
    DecodeStatus status = DecodeStatus::Ok;
    size_t krr_length = 0;
    std::string krr_mnemonic;
    size_t capstone_length = 0; // 0: capstone rejects it
    bool near_branch_with_66 = false;
};

bool is_prefix_or_escape(uint8_t op, bool long_mode) {
    switch (op) {
    case 0x26:
    case 0x2e:
    case 0x36:
    case 0x3e:
    case 0x64:
    case 0x65:
    case 0x66:
    case 0x67:
    case 0xf0:
    case 0xf2:
    case 0xf3:
    case 0x0f:
    case 0xc4:
    case 0xc5:
    case 0x62:
        return true;
    default:
        return long_mode && (op & 0xf0) == 0x40;
    }
}

std::vector<std::vector<uint8_t>> modrm_forms() {
    std::vector<std::vector<uint8_t>> forms;
    for (int reg = 0; reg < 8; ++reg) {
        const uint8_t r = static_cast<uint8_t>(reg << 3);
        forms.push_back({r});                                    // [rax]
        forms.push_back({static_cast<uint8_t>(0x44 | r), 0x24}); // [rsp + disp8]
        forms.push_back({static_cast<uint8_t>(0x80 | r)});       // [rax + disp32]
        for (int rm = 0; rm < 8; ++rm) {
            forms.push_back({static_cast<uint8_t>(0xc0 | r | rm)}); // registers
        }
    }
    forms.push_back({0x05});       // [rip + disp32]
    forms.push_back({0x04, 0x25}); // [disp32], SIB without base or index
    return forms;
}

// objdump's instruction starts and lengths, from its listing.
std::map<size_t, size_t> objdump_lengths(const std::vector<uint8_t>& blob, const char* machine,
                                         bool& ran) {
    std::map<size_t, size_t> lengths;
    char path[] = "/tmp/krr-decoder-sweep-XXXXXX";
    int fd = mkstemp(path);
    ran = false;
    if (fd < 0) {
        return lengths;
    }
    bool written = write(fd, blob.data(), blob.size()) == static_cast<ssize_t>(blob.size());
    close(fd);
    std::string command =
        std::string("objdump -D -b binary -m ") + machine + " -M intel " + path + " 2>/dev/null";
    FILE* out = written ? popen(command.c_str(), "r") : nullptr;
    if (out != nullptr) {
        char line[512];
        size_t current = 0;
        bool have_current = false;
        while (std::fgets(line, sizeof line, out) != nullptr) {
            // "  1f:\t0f 01 ee \trdpkru" starts an instruction; a line without
            // the second tab continues the previous one's bytes.
            char* first_tab = std::strchr(line, '\t');
            char* end = nullptr;
            unsigned long offset = std::strtoul(line, &end, 16);
            if (first_tab == nullptr || end == line || *end != ':') {
                continue;
            }
            char* second_tab = std::strchr(first_tab + 1, '\t');
            std::string bytes(first_tab + 1,
                              second_tab ? second_tab : first_tab + std::strlen(first_tab));
            size_t count = 0;
            for (size_t i = 0; i + 1 < bytes.size(); ++i) {
                if (std::isxdigit(static_cast<unsigned char>(bytes[i])) &&
                    std::isxdigit(static_cast<unsigned char>(bytes[i + 1]))) {
                    ++count;
                    ++i;
                }
            }
            if (second_tab != nullptr) {
                bool bad = std::strstr(second_tab, "(bad)") != nullptr;
                current = offset;
                have_current = !bad;
                if (have_current) {
                    lengths[current] = count;
                }
            } else if (have_current) {
                lengths[current] += count;
            }
        }
        ran = pclose(out) == 0;
    }
    unlink(path);
    return lengths;
}

struct ModeUnderTest {
    krr::cpu::CpuMode mode;
    cs_mode capstone_mode;
    const char* objdump_machine;
    const char* name;
    std::vector<std::vector<uint8_t>> prefixes;
};

// 0 when krr agrees wherever both references do, 1 when not, 77 when
// objdump did not run.
int sweep(const ModeUnderTest& m) {
    const std::vector<std::vector<uint8_t>>& prefixes = m.prefixes;
    const bool long_mode = m.mode == krr::cpu::CpuMode::Bits64;
    const std::vector<std::vector<uint8_t>> maps = {{}, {0x0f}, {0x0f, 0x38}, {0x0f, 0x3a}};
    std::vector<std::vector<uint8_t>> forms = modrm_forms();
    if (!long_mode) {
        forms.push_back({0x06}); // [disp16] with a 16-bit address size
    }

    csh capstone = 0;
    if (cs_open(CS_ARCH_X86, m.capstone_mode, &capstone) != CS_ERR_OK) {
        std::printf("error: capstone cs_open failed\n");
        return 1;
    }
    cs_insn* insn = cs_malloc(capstone);
    std::vector<uint8_t> blob;
    std::vector<Case> cases;
    for (const auto& prefix : prefixes) {
        for (const auto& map : maps) {
            for (int op = 0; op < 256; ++op) {
                if (map.empty() && is_prefix_or_escape(static_cast<uint8_t>(op), long_mode)) {
                    continue;
                }
                if (map.size() == 1 && (op == 0x38 || op == 0x3a)) {
                    continue;
                }
                for (const auto& form : forms) {
                    std::vector<uint8_t> bytes = prefix;
                    bytes.insert(bytes.end(), map.begin(), map.end());
                    bytes.push_back(static_cast<uint8_t>(op));
                    bytes.insert(bytes.end(), form.begin(), form.end());
                    bytes.resize(kSlot, 0x90);
                    Case c;
                    c.offset = blob.size();
                    krr::cpu::DecodeResult r = krr::cpu::decode(bytes, m.mode);
                    c.status = r.status;
                    if (r.ok()) {
                        c.krr_length = r.instruction.length;
                        c.krr_mnemonic = std::string(krr::cpu::mnemonic(r.instruction));
                        const auto family = krr::cpu::opcode_row(r.instruction.opcode).family;
                        c.near_branch_with_66 = family == krr::cpu::InstructionFamily::Branch &&
                                                r.instruction.prefixes.operand_size;
                    }
                    const uint8_t* code = bytes.data();
                    size_t size = bytes.size();
                    uint64_t address = 0;
                    if (cs_disasm_iter(capstone, &code, &size, &address, insn)) {
                        c.capstone_length = insn->size;
                    }
                    blob.insert(blob.end(), bytes.begin(), bytes.end());
                    cases.push_back(c);
                }
            }
        }
    }
    cs_free(insn, 1);
    cs_close(&capstone);

    bool ran = false;
    std::map<size_t, size_t> objdump = objdump_lengths(blob, m.objdump_machine, ran);
    if (!ran) {
        std::printf("SKIP: objdump did not run\n");
        return 77;
    }
    uint64_t agreed_references = 0, failures = 0, rejected = 0, branch_exceptions = 0;
    uint64_t objdump_rejects = 0, capstone_rejects = 0, references_differ = 0;
    std::map<std::string, uint64_t> rejected_by_status;
    std::vector<std::string> shown;
    for (const Case& c : cases) {
        auto found = objdump.find(c.offset);
        if (found == objdump.end() || c.capstone_length == 0 ||
            found->second != c.capstone_length) {
            objdump_rejects += found == objdump.end();
            capstone_rejects += c.capstone_length == 0;
            references_differ += found != objdump.end() && c.capstone_length != 0;
            continue;
        }
        ++agreed_references;
        std::string bytes;
        for (size_t i = 0; i < std::min<size_t>(c.capstone_length + 1, kSlot); ++i) {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%02x ", blob[c.offset + i]);
            bytes += hex;
        }
        if (c.status != DecodeStatus::Ok) {
            ++rejected;
            ++rejected_by_status[krr::cpu::decode_status_name(c.status)];
            continue;
        }
        if (c.krr_length == c.capstone_length) {
            continue;
        }
        if (c.near_branch_with_66) {
            ++branch_exceptions;
            continue;
        }
        ++failures;
        if (shown.size() < 20) {
            shown.push_back(bytes + ": krr " + c.krr_mnemonic + " " + std::to_string(c.krr_length) +
                            " bytes, capstone and objdump " + std::to_string(c.capstone_length));
        }
    }
    std::printf("%s: %zu encodings; capstone and objdump agree on %llu; krr differs on %llu "
                "(+%llu near branches with 66, Intel vs AMD); krr rejects %llu of them:",
                m.name, cases.size(), static_cast<unsigned long long>(agreed_references),
                static_cast<unsigned long long>(failures),
                static_cast<unsigned long long>(branch_exceptions),
                static_cast<unsigned long long>(rejected));
    for (const auto& [status, count] : rejected_by_status) {
        std::printf(" %s %llu", status.c_str(), static_cast<unsigned long long>(count));
    }
    std::printf(
        "\n(not compared: objdump rejects %llu, capstone rejects %llu, they differ on %llu)\n",
        static_cast<unsigned long long>(objdump_rejects),
        static_cast<unsigned long long>(capstone_rejects),
        static_cast<unsigned long long>(references_differ));
    for (const std::string& line : shown) {
        std::printf("  %s\n", line.c_str());
    }
    return failures == 0 ? 0 : 1;
}

} // namespace

int main() {
    const ModeUnderTest modes[] = {
        {krr::cpu::CpuMode::Bits64,
         CS_MODE_64,
         "i386:x86-64",
         "64-bit",
         {{}, {0x66}, {0xf3}, {0xf2}, {0x48}}},
        {krr::cpu::CpuMode::Bits32,
         CS_MODE_32,
         "i386",
         "32-bit",
         {{}, {0x66}, {0x67}, {0xf3}, {0xf2}}},
        {krr::cpu::CpuMode::Bits16,
         CS_MODE_16,
         "i8086",
         "16-bit",
         {{}, {0x66}, {0x67}, {0xf3}, {0xf2}}},
    };
    int status = 0;
    for (const ModeUnderTest& m : modes) {
        const int result = sweep(m);
        if (result == 77) {
            return 77;
        }
        status |= result;
    }
    return status;
}
