#include "gdbserver/x86_64_target.h"

#include "guest-model/error.h"

#include <array>
#include <cstring>

namespace krr::gdb {

namespace {

constexpr std::string_view kCore = "org.gnu.gdb.i386.core";
constexpr std::string_view kSse = "org.gnu.gdb.i386.sse";
constexpr std::string_view kLinux = "org.gnu.gdb.i386.linux";
constexpr std::string_view kSegments = "org.gnu.gdb.i386.segments";
// Not a gdb-defined feature: gdb shows its registers by name (`info
// registers cr3`, `$efer`) without giving them a meaning of its own.
constexpr std::string_view kSystem = "org.krr.x86-64.system";

constexpr std::array<std::string_view, 5> kFeatureOrder = {kCore, kSse, kLinux, kSegments, kSystem};

void store_le(uint8_t* out, uint64_t v, size_t bytes) {
    for (size_t i = 0; i < bytes; ++i) {
        out[i] = static_cast<uint8_t>(v >> (8 * i));
    }
}

uint64_t load_le(const uint8_t* in, size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) {
        v |= static_cast<uint64_t>(in[i]) << (8 * i);
    }
    return v;
}

using Getter = void (*)(const CpuState&, uint8_t*);
using Setter = void (*)(CpuState&, const uint8_t*);

struct RegisterSpec {
    std::string_view name;
    uint32_t bit_size;
    std::string_view type;
    std::string_view group;
    std::string_view feature;
    Getter get;
    Setter set;
};

template <Gpr R>
RegisterSpec gpr(std::string_view name, std::string_view type = "int64") {
    return {name,
            64,
            type,
            "",
            kCore,
            [](const CpuState& c, uint8_t* o) { store_le(o, c.gpr[R], 8); },
            [](CpuState& c, const uint8_t* i) { c.gpr[R] = load_le(i, 8); }};
}

template <SegmentIndex S>
RegisterSpec selector(std::string_view name) {
    return {name, 32, "int32", "", kCore,
            [](const CpuState& c, uint8_t* o) { store_le(o, c.seg[S].selector, 4); },
            // A selector written from gdb does not reload the descriptor
            // cache; that would be an instruction's job, not a debugger's.
            [](CpuState& c, const uint8_t* i) {
                c.seg[S].selector = static_cast<uint16_t>(load_le(i, 4));
            }};
}

template <int N>
RegisterSpec st(std::string_view name) {
    return {name,
            80,
            "i387_ext",
            "",
            kCore,
            [](const CpuState& c, uint8_t* o) { std::memcpy(o, c.fpu.st[N].data(), 10); },
            [](CpuState& c, const uint8_t* i) { std::memcpy(c.fpu.st[N].data(), i, 10); }};
}

template <int N>
RegisterSpec xmm(std::string_view name) {
    return {name,
            128,
            "vec128",
            "",
            kSse,
            [](const CpuState& c, uint8_t* o) { std::memcpy(o, c.fpu.xmm[N].data(), 16); },
            [](CpuState& c, const uint8_t* i) { std::memcpy(c.fpu.xmm[N].data(), i, 16); }};
}

template <uint64_t CpuState::*F>
RegisterSpec control(std::string_view name, std::string_view type) {
    return {name,
            64,
            type,
            "system",
            kSystem,
            [](const CpuState& c, uint8_t* o) { store_le(o, c.*F, 8); },
            [](CpuState& c, const uint8_t* i) { c.*F = load_le(i, 8); }};
}

// The x87 tag of one physical register from its contents, as FSTENV would
// report it: 0 valid, 1 zero, 2 special (NaN, infinity, denormal,
// unnormal), 3 empty.
unsigned x87_tag(const std::array<uint8_t, 16>& st) {
    const unsigned exponent = static_cast<unsigned>(st[9] & 0x7f) << 8 | st[8];
    const uint64_t mantissa = load_le(st.data(), 8);
    if (exponent == 0x7fff) {
        return 2;
    }
    if (exponent == 0) {
        return mantissa == 0 ? 1 : 2;
    }
    return (mantissa >> 63) != 0 ? 0 : 2;
}

// gdb's ftag is the full two-bit-per-register tag word; the state keeps
// FXSAVE's abridged form, one "not empty" bit per physical register.
uint16_t full_tag_word(const FpuState& f) {
    const unsigned top = (f.fsw >> 11) & 7;
    uint16_t tags = 0;
    for (unsigned physical = 0; physical < 8; ++physical) {
        unsigned tag = 3;
        if ((f.ftw >> physical) & 1) {
            tag = x87_tag(f.st[(physical - top) & 7]);
        }
        tags = static_cast<uint16_t>(tags | tag << (2 * physical));
    }
    return tags;
}

uint8_t abridged_tag_word(uint16_t full) {
    uint8_t abridged = 0;
    for (unsigned physical = 0; physical < 8; ++physical) {
        if (((full >> (2 * physical)) & 3) != 3) {
            abridged = static_cast<uint8_t>(abridged | 1u << physical);
        }
    }
    return abridged;
}

RegisterSpec x87_control(std::string_view name, Getter get, Setter set) {
    return {name, 32, "int", "float", kCore, get, set};
}

// In 64-bit mode FXSAVE stores 64-bit FPU instruction and operand pointers;
// gdb's amd64 code reads the upper halves from where the 32-bit format keeps
// the segments, so fiseg/foseg carry bits 32-63 and fioff/fooff bits 0-31.
const std::vector<RegisterSpec>& register_specs() {
    static const std::vector<RegisterSpec> specs = {
        gpr<RAX>("rax"),
        gpr<RBX>("rbx"),
        gpr<RCX>("rcx"),
        gpr<RDX>("rdx"),
        gpr<RSI>("rsi"),
        gpr<RDI>("rdi"),
        gpr<RBP>("rbp", "data_ptr"),
        gpr<RSP>("rsp", "data_ptr"),
        gpr<R8>("r8"),
        gpr<R9>("r9"),
        gpr<R10>("r10"),
        gpr<R11>("r11"),
        gpr<R12>("r12"),
        gpr<R13>("r13"),
        gpr<R14>("r14"),
        gpr<R15>("r15"),
        {"rip", 64, "code_ptr", "", kCore,
         [](const CpuState& c, uint8_t* o) { store_le(o, c.rip, 8); },
         [](CpuState& c, const uint8_t* i) { c.rip = load_le(i, 8); }},
        // RFLAGS bits 32-63 are reserved (zero); gdb knows eflags only.
        {"eflags", 32, "i386_eflags", "", kCore,
         [](const CpuState& c, uint8_t* o) { store_le(o, c.rflags, 4); },
         [](CpuState& c, const uint8_t* i) {
             c.rflags = (c.rflags & ~0xffffffffULL) | load_le(i, 4);
         }},
        selector<CS>("cs"),
        selector<SS>("ss"),
        selector<DS>("ds"),
        selector<ES>("es"),
        selector<FS>("fs"),
        selector<GS>("gs"),
        st<0>("st0"),
        st<1>("st1"),
        st<2>("st2"),
        st<3>("st3"),
        st<4>("st4"),
        st<5>("st5"),
        st<6>("st6"),
        st<7>("st7"),
        x87_control(
            "fctrl", [](const CpuState& c, uint8_t* o) { store_le(o, c.fpu.fcw, 4); },
            [](CpuState& c, const uint8_t* i) {
                c.fpu.fcw = static_cast<uint16_t>(load_le(i, 4));
            }),
        x87_control(
            "fstat", [](const CpuState& c, uint8_t* o) { store_le(o, c.fpu.fsw, 4); },
            [](CpuState& c, const uint8_t* i) {
                c.fpu.fsw = static_cast<uint16_t>(load_le(i, 4));
            }),
        x87_control(
            "ftag", [](const CpuState& c, uint8_t* o) { store_le(o, full_tag_word(c.fpu), 4); },
            [](CpuState& c, const uint8_t* i) {
                c.fpu.ftw = abridged_tag_word(static_cast<uint16_t>(load_le(i, 4)));
            }),
        x87_control(
            "fiseg", [](const CpuState& c, uint8_t* o) { store_le(o, c.fpu.fip >> 32, 4); },
            [](CpuState& c, const uint8_t* i) {
                c.fpu.fip = (c.fpu.fip & 0xffffffffULL) | load_le(i, 4) << 32;
            }),
        x87_control(
            "fioff", [](const CpuState& c, uint8_t* o) { store_le(o, c.fpu.fip, 4); },
            [](CpuState& c, const uint8_t* i) {
                c.fpu.fip = (c.fpu.fip & ~0xffffffffULL) | load_le(i, 4);
            }),
        x87_control(
            "foseg", [](const CpuState& c, uint8_t* o) { store_le(o, c.fpu.fdp >> 32, 4); },
            [](CpuState& c, const uint8_t* i) {
                c.fpu.fdp = (c.fpu.fdp & 0xffffffffULL) | load_le(i, 4) << 32;
            }),
        x87_control(
            "fooff", [](const CpuState& c, uint8_t* o) { store_le(o, c.fpu.fdp, 4); },
            [](CpuState& c, const uint8_t* i) {
                c.fpu.fdp = (c.fpu.fdp & ~0xffffffffULL) | load_le(i, 4);
            }),
        x87_control(
            "fop", [](const CpuState& c, uint8_t* o) { store_le(o, c.fpu.fop, 4); },
            [](CpuState& c, const uint8_t* i) {
                c.fpu.fop = static_cast<uint16_t>(load_le(i, 4));
            }),
        xmm<0>("xmm0"),
        xmm<1>("xmm1"),
        xmm<2>("xmm2"),
        xmm<3>("xmm3"),
        xmm<4>("xmm4"),
        xmm<5>("xmm5"),
        xmm<6>("xmm6"),
        xmm<7>("xmm7"),
        xmm<8>("xmm8"),
        xmm<9>("xmm9"),
        xmm<10>("xmm10"),
        xmm<11>("xmm11"),
        xmm<12>("xmm12"),
        xmm<13>("xmm13"),
        xmm<14>("xmm14"),
        xmm<15>("xmm15"),
        {"mxcsr", 32, "i386_mxcsr", "vector", kSse,
         [](const CpuState& c, uint8_t* o) { store_le(o, c.fpu.mxcsr, 4); },
         [](CpuState& c, const uint8_t* i) { c.fpu.mxcsr = static_cast<uint32_t>(load_le(i, 4)); }},
        // gdb's Linux support wants orig_rax (the syscall being restarted).
        // A whole-machine replay has no such thing: -1 says "no syscall".
        {"orig_rax", 64, "int", "", kLinux,
         [](const CpuState&, uint8_t* o) { store_le(o, ~0ULL, 8); },
         [](CpuState&, const uint8_t*) {}},
        {"fs_base", 64, "int", "", kSegments,
         [](const CpuState& c, uint8_t* o) { store_le(o, c.seg[FS].base, 8); },
         [](CpuState& c, const uint8_t* i) { c.seg[FS].base = load_le(i, 8); }},
        {"gs_base", 64, "int", "", kSegments,
         [](const CpuState& c, uint8_t* o) { store_le(o, c.seg[GS].base, 8); },
         [](CpuState& c, const uint8_t* i) { c.seg[GS].base = load_le(i, 8); }},
        control<&CpuState::cr0>("cr0", "krr_cr0"),
        control<&CpuState::cr2>("cr2", "data_ptr"),
        control<&CpuState::cr3>("cr3", "int64"),
        control<&CpuState::cr4>("cr4", "krr_cr4"),
        control<&CpuState::cr8>("cr8", "int64"),
        {"efer", 64, "krr_efer", "system", kSystem,
         [](const CpuState& c, uint8_t* o) { store_le(o, c.msr.efer, 8); },
         [](CpuState& c, const uint8_t* i) { c.msr.efer = load_le(i, 8); }},
        {"kernel_gs_base", 64, "data_ptr", "system", kSystem,
         [](const CpuState& c, uint8_t* o) { store_le(o, c.msr.kernel_gs_base, 8); },
         [](CpuState& c, const uint8_t* i) { c.msr.kernel_gs_base = load_le(i, 8); }},
    };
    return specs;
}

const std::vector<TargetRegister>& register_table() {
    static const std::vector<TargetRegister> table = [] {
        std::vector<TargetRegister> t;
        size_t offset = 0;
        for (const RegisterSpec& s : register_specs()) {
            t.push_back({s.name, s.bit_size, s.type, s.group, s.feature, offset});
            offset += s.bit_size / 8;
        }
        return t;
    }();
    return table;
}

struct FlagField {
    std::string_view name;
    unsigned start;
    unsigned end;
};

std::string flags_type(std::string_view id, unsigned size,
                       std::initializer_list<FlagField> fields) {
    std::string out =
        "    <flags id=\"" + std::string(id) + "\" size=\"" + std::to_string(size) + "\">\n";
    for (const FlagField& f : fields) {
        out += "      <field name=\"" + std::string(f.name) + "\" start=\"" +
               std::to_string(f.start) + "\" end=\"" + std::to_string(f.end) + "\"/>\n";
    }
    return out + "    </flags>\n";
}

// The types a feature's registers refer to beyond gdb's predefined ones.
std::string feature_types(std::string_view feature) {
    if (feature == kCore) {
        return flags_type("i386_eflags", 4,
                          {{"CF", 0, 0},
                           {"PF", 2, 2},
                           {"AF", 4, 4},
                           {"ZF", 6, 6},
                           {"SF", 7, 7},
                           {"TF", 8, 8},
                           {"IF", 9, 9},
                           {"DF", 10, 10},
                           {"OF", 11, 11},
                           {"NT", 14, 14},
                           {"RF", 16, 16},
                           {"VM", 17, 17},
                           {"AC", 18, 18},
                           {"VIF", 19, 19},
                           {"VIP", 20, 20},
                           {"ID", 21, 21}});
    }
    if (feature == kSse) {
        std::string out;
        const std::pair<std::string_view, std::pair<std::string_view, int>> lanes[] = {
            {"v4f", {"ieee_single", 4}}, {"v2d", {"ieee_double", 2}}, {"v16i8", {"int8", 16}},
            {"v8i16", {"int16", 8}},     {"v4i32", {"int32", 4}},     {"v2i64", {"int64", 2}},
        };
        for (const auto& [id, lane] : lanes) {
            out += "    <vector id=\"" + std::string(id) + "\" type=\"" + std::string(lane.first) +
                   "\" count=\"" + std::to_string(lane.second) + "\"/>\n";
        }
        // Field names are the ones gdb users type: $xmm0.v4_int32[1].
        out += "    <union id=\"vec128\">\n"
               "      <field name=\"v4_float\" type=\"v4f\"/>\n"
               "      <field name=\"v2_double\" type=\"v2d\"/>\n"
               "      <field name=\"v16_int8\" type=\"v16i8\"/>\n"
               "      <field name=\"v8_int16\" type=\"v8i16\"/>\n"
               "      <field name=\"v4_int32\" type=\"v4i32\"/>\n"
               "      <field name=\"v2_int64\" type=\"v2i64\"/>\n"
               "      <field name=\"uint128\" type=\"uint128\"/>\n"
               "    </union>\n";
        out += flags_type("i386_mxcsr", 4,
                          {{"IE", 0, 0},
                           {"DE", 1, 1},
                           {"ZE", 2, 2},
                           {"OE", 3, 3},
                           {"UE", 4, 4},
                           {"PE", 5, 5},
                           {"DAZ", 6, 6},
                           {"IM", 7, 7},
                           {"DM", 8, 8},
                           {"ZM", 9, 9},
                           {"OM", 10, 10},
                           {"UM", 11, 11},
                           {"PM", 12, 12},
                           {"FZ", 15, 15}});
        return out;
    }
    if (feature == kSystem) {
        return flags_type("krr_cr0", 8,
                          {{"PE", 0, 0},
                           {"MP", 1, 1},
                           {"EM", 2, 2},
                           {"TS", 3, 3},
                           {"ET", 4, 4},
                           {"NE", 5, 5},
                           {"WP", 16, 16},
                           {"AM", 18, 18},
                           {"NW", 29, 29},
                           {"CD", 30, 30},
                           {"PG", 31, 31}}) +
               flags_type("krr_cr4", 8,
                          {{"VME", 0, 0},
                           {"PVI", 1, 1},
                           {"TSD", 2, 2},
                           {"DE", 3, 3},
                           {"PSE", 4, 4},
                           {"PAE", 5, 5},
                           {"MCE", 6, 6},
                           {"PGE", 7, 7},
                           {"PCE", 8, 8},
                           {"OSFXSR", 9, 9},
                           {"OSXMMEXCPT", 10, 10},
                           {"UMIP", 11, 11},
                           {"LA57", 12, 12},
                           {"FSGSBASE", 16, 16},
                           {"PCIDE", 17, 17},
                           {"OSXSAVE", 18, 18},
                           {"SMEP", 20, 20},
                           {"SMAP", 21, 21},
                           {"PKE", 22, 22}}) +
               flags_type("krr_efer", 8,
                          {{"SCE", 0, 0},
                           {"LME", 8, 8},
                           {"LMA", 10, 10},
                           {"NXE", 11, 11},
                           {"SVME", 12, 12},
                           {"FFXSR", 14, 14}});
    }
    return {};
}

std::string build_target_description() {
    std::string xml = "<?xml version=\"1.0\"?>\n"
                      "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
                      "<target version=\"1.0\">\n"
                      "  <architecture>i386:x86-64</architecture>\n"
                      "  <osabi>GNU/Linux</osabi>\n";
    const auto& table = register_table();
    for (std::string_view feature : kFeatureOrder) {
        xml += "  <feature name=\"" + std::string(feature) + "\">\n" + feature_types(feature);
        for (size_t n = 0; n < table.size(); ++n) {
            const TargetRegister& r = table[n];
            if (r.feature != feature) {
                continue;
            }
            xml += "    <reg name=\"" + std::string(r.name) + "\" bitsize=\"" +
                   std::to_string(r.bit_size) + "\" type=\"" + std::string(r.type) +
                   "\" regnum=\"" + std::to_string(n) + "\"";
            if (!r.group.empty()) {
                xml += " group=\"" + std::string(r.group) + "\"";
            }
            xml += "/>\n";
        }
        xml += "  </feature>\n";
    }
    return xml + "</target>\n";
}

const RegisterSpec& spec_for(uint32_t number) {
    const auto& specs = register_specs();
    if (number >= specs.size()) {
        throw Error("gdb register " + std::to_string(number), "no such register");
    }
    return specs[number];
}

} // namespace

std::span<const TargetRegister> target_registers() {
    return register_table();
}

size_t register_image_size() {
    const TargetRegister& last = register_table().back();
    return last.offset + last.bit_size / 8;
}

const std::string& target_description_xml() {
    static const std::string xml = build_target_description();
    return xml;
}

std::vector<uint8_t> encode_register_image(const CpuState& cpu) {
    std::vector<uint8_t> image(register_image_size());
    const auto& table = register_table();
    const auto& specs = register_specs();
    for (size_t n = 0; n < specs.size(); ++n) {
        specs[n].get(cpu, image.data() + table[n].offset);
    }
    return image;
}

void decode_register_image(std::span<const uint8_t> image, CpuState& cpu) {
    if (image.size() != register_image_size()) {
        throw Error("gdb register image", "is " + std::to_string(image.size()) +
                                              " bytes, expected " +
                                              std::to_string(register_image_size()));
    }
    const auto& table = register_table();
    const auto& specs = register_specs();
    for (size_t n = 0; n < specs.size(); ++n) {
        specs[n].set(cpu, image.data() + table[n].offset);
    }
}

std::vector<uint8_t> read_register(const CpuState& cpu, uint32_t number) {
    const RegisterSpec& s = spec_for(number);
    std::vector<uint8_t> value(s.bit_size / 8);
    s.get(cpu, value.data());
    return value;
}

void write_register(CpuState& cpu, uint32_t number, std::span<const uint8_t> value) {
    const RegisterSpec& s = spec_for(number);
    if (value.size() != s.bit_size / 8) {
        throw Error("gdb register " + std::string(s.name),
                    "value is " + std::to_string(value.size()) + " bytes, expected " +
                        std::to_string(s.bit_size / 8));
    }
    s.set(cpu, value.data());
}

} // namespace krr::gdb
