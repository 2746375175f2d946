#include "replay-engine/cpu/opcode_table.h"

#include <utility>

namespace krr::cpu {
namespace {

// The vocabulary opcode_table.def is written in.
namespace table_words {

inline constexpr OpcodeMap M1 = OpcodeMap::OneByte;
inline constexpr OpcodeMap M0F = OpcodeMap::Map0F;
inline constexpr OpcodeMap M38 = OpcodeMap::Map0F38;
inline constexpr OpcodeMap M3A = OpcodeMap::Map0F3A;

inline constexpr MandatoryPrefix Px = MandatoryPrefix::Any;
inline constexpr MandatoryPrefix NP = MandatoryPrefix::None;
inline constexpr MandatoryPrefix P66 = MandatoryPrefix::P66;
inline constexpr MandatoryPrefix PF3 = MandatoryPrefix::F3;
inline constexpr MandatoryPrefix PF2 = MandatoryPrefix::F2;

inline constexpr ModrmSelector NoModrm{};
inline constexpr ModrmSelector MemOnly{-1, -1, ModRequirement::Memory, true};
inline constexpr ModrmSelector RegOnly{-1, -1, ModRequirement::Register, true};
constexpr ModrmSelector Ext(int reg) {
    return {static_cast<int8_t>(reg), -1, ModRequirement::Any, true};
}
constexpr ModrmSelector ExtMem(int reg) {
    return {static_cast<int8_t>(reg), -1, ModRequirement::Memory, true};
}
constexpr ModrmSelector ExtReg(int reg) {
    return {static_cast<int8_t>(reg), -1, ModRequirement::Register, true};
}
constexpr ModrmSelector ExtRm(int reg, int rm) {
    return {static_cast<int8_t>(reg), static_cast<int8_t>(rm), ModRequirement::Register, true};
}

using A = Addressing;
using Wd = Width;
inline constexpr OperandSpec No{};
inline constexpr OperandSpec Eb{A::E, Wd::B}, Ew{A::E, Wd::W}, Ed{A::E, Wd::D}, Eq{A::E, Wd::Q},
    Ev{A::E, Wd::V}, Ey{A::E, Wd::Y};
inline constexpr OperandSpec Gb{A::G, Wd::B}, Gw{A::G, Wd::W}, Gd{A::G, Wd::D}, Gq{A::G, Wd::Q},
    Gv{A::G, Wd::V}, Gy{A::G, Wd::Y};
inline constexpr OperandSpec M{A::M, Wd::Unsized}, Mb{A::M, Wd::B}, Mw{A::M, Wd::W},
    Md{A::M, Wd::D}, Mq{A::M, Wd::Q}, Mv{A::M, Wd::V}, My{A::M, Wd::Y}, Mx{A::M, Wd::X},
    Mdq{A::M, Wd::X}, Mt{A::M, Wd::T}, Mp{A::M, Wd::P}, Ms{A::M, Wd::S}, Mfx{A::M, Wd::FX};
inline constexpr OperandSpec MwRv{A::E, Wd::VW};
inline constexpr OperandSpec Rq{A::R, Wd::Q}, Rv{A::R, Wd::V}, Ry{A::R, Wd::Y};
inline constexpr OperandSpec Cq{A::C, Wd::Q}, Dq{A::D, Wd::Q}, Sw{A::S, Wd::W};
inline constexpr OperandSpec Ib{A::I, Wd::B}, Ibs{A::I, Wd::BS}, Iw{A::I, Wd::W}, Iz{A::I, Wd::Z},
    Iv{A::I, Wd::V};
inline constexpr OperandSpec Jb{A::J, Wd::B}, Jz{A::J, Wd::Z};
inline constexpr OperandSpec Ob{A::O, Wd::B}, Ov{A::O, Wd::V};
inline constexpr OperandSpec Zb{A::Z, Wd::B}, Zv{A::Z, Wd::V}, Zy{A::Z, Wd::Y};
inline constexpr OperandSpec AL{A::FixedGpr, Wd::B, 0}, CL{A::FixedGpr, Wd::B, 1},
    AX{A::FixedGpr, Wd::W, 0}, DX{A::FixedGpr, Wd::W, 2}, eAX{A::FixedGpr, Wd::Z, 0},
    rAX{A::FixedGpr, Wd::V, 0};
inline constexpr OperandSpec One{A::One, Wd::B};
inline constexpr OperandSpec Xb{A::X, Wd::B}, Xv{A::X, Wd::V}, Xz{A::X, Wd::Z};
inline constexpr OperandSpec Yb{A::Y, Wd::B}, Yv{A::Y, Wd::V}, Yz{A::Y, Wd::Z};
inline constexpr OperandSpec ST0{A::St0, Wd::T}, STi{A::StI, Wd::T};
inline constexpr OperandSpec Pq{A::P, Wd::Q}, Qq{A::Q, Wd::Q}, Nq{A::N, Wd::Q};
inline constexpr OperandSpec Vx{A::V, Wd::X}, Wx{A::W, Wd::X}, Wq{A::W, Wd::Q}, Wss{A::W, Wd::SS},
    Wsd{A::W, Wd::SD}, Ux{A::U, Wd::X};
inline constexpr OperandSpec SegES{A::FixedSeg, Wd::W, 0}, SegCS{A::FixedSeg, Wd::W, 1},
    SegSS{A::FixedSeg, Wd::W, 2}, SegDS{A::FixedSeg, Wd::W, 3}, SegFS{A::FixedSeg, Wd::W, 4},
    SegGS{A::FixedSeg, Wd::W, 5};
inline constexpr OperandSpec Ap{A::A, Wd::Unsized};

inline constexpr OperandSizeRule Osz = OperandSizeRule::Normal;
inline constexpr OperandSizeRule D64 = OperandSizeRule::Default64;
inline constexpr OperandSizeRule F64 = OperandSizeRule::Force64;

using enum InstructionFamily;
using enum CpuFeature;

inline constexpr uint8_t Lock = row_attribute::kLockable;
inline constexpr uint8_t ModIgnored = row_attribute::kModIgnored;
inline constexpr uint8_t NoRexB = row_attribute::kNoRexB;
inline constexpr uint8_t AddressVariant = row_attribute::kAddressVariant;
inline constexpr uint8_t LegacyOnly = row_attribute::kLegacyOnly;
inline constexpr uint8_t LongModeOnly = row_attribute::kLongModeOnly;

} // namespace table_words

constexpr OpcodeRow make_row(OpcodeRow row) {
    row.has_modrm = row.modrm.present;
    row.mod = row.modrm.mod;
    for (const OperandSpec& op : row.operands) {
        if (op.uses_modrm()) {
            row.has_modrm = true;
        }
        if (op.addressing == Addressing::Z) {
            row.register_in_opcode = true;
        }
        // Operands that can only be memory, or only a register, constrain mod.
        if (op.addressing == Addressing::M) {
            row.mod = ModRequirement::Memory;
        }
        if ((op.addressing == Addressing::R || op.addressing == Addressing::U ||
             op.addressing == Addressing::N) &&
            !row.has(row_attribute::kModIgnored)) {
            row.mod = ModRequirement::Register;
        }
    }
    return row;
}

using namespace table_words;

constexpr OpcodeRow kRows[] = {
#define X(id_, mnemonic_, map_, opcode_, prefix_, modrm_, op1, op2, op3, size_, family_, feature_, \
          attributes_)                                                                             \
    make_row(OpcodeRow{OpcodeId::id_,                                                              \
                       mnemonic_,                                                                  \
                       map_,                                                                       \
                       opcode_,                                                                    \
                       prefix_,                                                                    \
                       modrm_,                                                                     \
                       {op1, op2, op3},                                                            \
                       size_,                                                                      \
                       family_,                                                                    \
                       feature_,                                                                   \
                       attributes_}),
#include "replay-engine/cpu/opcode_table.def"
#undef X
};
static_assert(std::size(kRows) == kOpcodeCount);

constexpr bool rows_are_in_id_order() {
    for (int i = 0; i < kOpcodeCount; ++i) {
        if (static_cast<int>(kRows[i].id) != i) {
            return false;
        }
    }
    return true;
}
static_assert(rows_are_in_id_order());

constexpr int kBucketCount = kOpcodeMapCount * 256;

constexpr int bucket_of(OpcodeMap map, int opcode) {
    return static_cast<int>(map) * 256 + opcode;
}

constexpr int rows_per_entry(const OpcodeRow& row) {
    return row.register_in_opcode ? 8 : 1;
}

constexpr int count_entries() {
    int total = 0;
    for (const OpcodeRow& row : kRows) {
        total += rows_per_entry(row);
    }
    return total;
}
constexpr int kEntryCount = count_entries();

struct OpcodeIndex {
    std::array<uint16_t, kBucketCount + 1> bucket_start{};
    std::array<OpcodeId, kEntryCount> entries{};
};

// A counting sort of the rows into (map, opcode byte) buckets, keeping table
// order inside each bucket.
constexpr OpcodeIndex build_index() {
    OpcodeIndex index;
    std::array<uint16_t, kBucketCount> count{};
    for (const OpcodeRow& row : kRows) {
        for (int i = 0; i < rows_per_entry(row); ++i) {
            ++count[bucket_of(row.map, row.opcode + i)];
        }
    }
    for (int b = 0; b < kBucketCount; ++b) {
        index.bucket_start[b + 1] = static_cast<uint16_t>(index.bucket_start[b] + count[b]);
    }
    std::array<uint16_t, kBucketCount> fill{};
    for (const OpcodeRow& row : kRows) {
        for (int i = 0; i < rows_per_entry(row); ++i) {
            int b = bucket_of(row.map, row.opcode + i);
            index.entries[index.bucket_start[b] + fill[b]++] = row.id;
        }
    }
    return index;
}

constexpr OpcodeIndex kIndex = build_index();

constexpr bool share_a_mode(const OpcodeRow& a, const OpcodeRow& b) {
    const uint8_t legacy = row_attribute::kLegacyOnly, long_mode = row_attribute::kLongModeOnly;
    return !((a.has(legacy) && b.has(long_mode)) || (a.has(long_mode) && b.has(legacy)));
}

// Within a mode, every byte of a bucket must agree on whether ModRM follows,
// or the decoder could not know how to read the instruction before choosing
// a row.
constexpr bool buckets_agree_on_modrm() {
    for (int b = 0; b < kBucketCount; ++b) {
        for (int e = kIndex.bucket_start[b]; e < kIndex.bucket_start[b + 1]; ++e) {
            for (int f = kIndex.bucket_start[b]; f < e; ++f) {
                const OpcodeRow& x = kRows[static_cast<int>(kIndex.entries[e])];
                const OpcodeRow& y = kRows[static_cast<int>(kIndex.entries[f])];
                if (share_a_mode(x, y) && x.has_modrm != y.has_modrm) {
                    return false;
                }
            }
        }
    }
    return true;
}
static_assert(buckets_agree_on_modrm());

constexpr const char* kIdNames[] = {
#define X(id_, ...) #id_,
#include "replay-engine/cpu/opcode_table.def"
#undef X
};

} // namespace

const OpcodeRow& opcode_row(OpcodeId id) {
    return kRows[static_cast<int>(id)];
}

std::span<const OpcodeId> opcode_candidates(OpcodeMap map, uint8_t opcode) {
    int b = bucket_of(map, opcode);
    int first = kIndex.bucket_start[b];
    int last = kIndex.bucket_start[b + 1];
    return std::span<const OpcodeId>(kIndex.entries.data() + first, last - first);
}

std::string_view mnemonic_variant(OpcodeId id, int variant) {
    std::string_view text = opcode_row(id).mnemonic;
    for (int i = 0; i < variant; ++i) {
        size_t bar = text.find('|');
        if (bar == std::string_view::npos) {
            break;
        }
        text.remove_prefix(bar + 1);
    }
    return text.substr(0, text.find('|'));
}

std::string_view opcode_id_name(OpcodeId id) {
    return kIdNames[static_cast<int>(id)];
}

} // namespace krr::cpu
