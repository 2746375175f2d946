#include "recorder/accel/tsc_read_sites.h"

#include "guest-model/error.h"
#include "replay-engine/cpu/decoder.h"
#include "replay-engine/mmu/page_walk.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>

namespace krr {

namespace {

// Long mode with NX enabled, so that XD bits in the guest's entries mean
// no-execute (Linux sets them on every data mapping) rather than reserved.
constexpr uint64_t kCr0PeAndPg = (1ULL << 0) | (1ULL << 31);
constexpr uint64_t kCr4Pae = 1ULL << 5;
constexpr uint64_t kEferLmeLmaNxe = (1ULL << 8) | (1ULL << 10) | (1ULL << 11);
constexpr uint64_t kCr3TableMask = ((1ULL << kPhysicalAddressBits) - 1) & ~0xfffULL;

bool is_text(char type) {
    return type == 'T' || type == 't' || type == 'W' || type == 'w';
}

// Reads guest code by linear address, one translated page at a time.
class GuestCodeReader {
public:
    GuestCodeReader(const GuestMemory& memory, uint64_t cr3) : memory_(memory) {
        control_.cr0 = kCr0PeAndPg;
        control_.cr3 = cr3;
        control_.cr4 = kCr4Pae;
        control_.efer = kEferLmeLmaNxe;
    }

    // The physical address of executable code at `linear`, or nullopt.
    std::optional<uint64_t> physical(uint64_t linear) {
        const uint64_t page = linear & ~(kPageSize - 1);
        if (!cached_page_ || *cached_page_ != page) {
            cached_page_ = page;
            cached_frame_ = translate(page);
        }
        if (!cached_frame_) {
            return std::nullopt;
        }
        return *cached_frame_ + (linear & (kPageSize - 1));
    }

    // Copies up to out.size() bytes from `linear` on, stopping at the first
    // byte that is not executable RAM; returns how many were copied.
    size_t read(uint64_t linear, std::span<uint8_t> out) {
        size_t copied = 0;
        while (copied < out.size()) {
            const uint64_t at = linear + copied;
            if (at < linear) {
                break; // wrapped past the top of the address space
            }
            std::optional<uint64_t> phys = physical(at);
            if (!phys) {
                break;
            }
            const size_t in_page = static_cast<size_t>(kPageSize - (at & (kPageSize - 1)));
            const size_t n = std::min(in_page, out.size() - copied);
            if (!memory_.read(*phys, out.subspan(copied, n))) {
                break;
            }
            copied += n;
        }
        return copied;
    }

private:
    std::optional<uint64_t> translate(uint64_t page) const {
        if (!is_canonical(page)) {
            return std::nullopt;
        }
        // Without accessed/dirty updates the walk only reads guest memory;
        // it takes a mutable GuestMemory only because the emulator's walks
        // do write those bits.
        PageWalkOptions inspect;
        inspect.set_accessed_dirty = false;
        inspect.check_rights = false;
        Translation t = walk_page_tables(const_cast<GuestMemory&>(memory_), control_, page,
                                         Access::Execute, false, inspect);
        if (!t.ok || !t.executable || !memory_.contains(t.physical, kPageSize)) {
            return std::nullopt;
        }
        return t.physical;
    }

    const GuestMemory& memory_;
    PagingControl control_;
    std::optional<uint64_t> cached_page_;
    std::optional<uint64_t> cached_frame_;
};

enum class RangeEnd { Reached, Unmapped, DecodeError };

// Decodes [begin, end) and appends the TSC reads found to `scan`.
RangeEnd scan_range(GuestCodeReader& reader, uint64_t begin, uint64_t end, TscReadScan& scan) {
    std::array<uint8_t, cpu::kMaxInstructionLength> bytes{};
    uint64_t address = begin;
    while (address < end) {
        const size_t available = reader.read(address, bytes);
        if (available == 0) {
            return RangeEnd::Unmapped;
        }
        // Decode within the range first; an instruction the range's end cuts
        // short is decoded whole from the bytes after it (an instruction can
        // run into the next symbol on purpose: the return thunks inside an
        // immediate of retbleed_untrain_ret).
        const size_t in_range = static_cast<size_t>(std::min<uint64_t>(available, end - address));
        cpu::DecodeResult decoded =
            cpu::decode(std::span<const uint8_t>(bytes.data(), in_range), cpu::CpuMode::Bits64);
        if (decoded.status == cpu::DecodeStatus::Truncated && available > in_range) {
            decoded = cpu::decode(std::span<const uint8_t>(bytes.data(), available),
                                  cpu::CpuMode::Bits64);
        }
        if (decoded.status == cpu::DecodeStatus::Truncated && available < bytes.size()) {
            return RangeEnd::Unmapped; // the instruction continues on an unmapped page
        }
        if (!decoded.ok()) {
            return RangeEnd::DecodeError;
        }
        ++scan.instructions_decoded;
        const cpu::OpcodeId opcode = decoded.instruction.opcode;
        if (opcode == cpu::OpcodeId::RDTSC || opcode == cpu::OpcodeId::RDTSCP) {
            TscReadSite site;
            site.virtual_address = address;
            site.physical_address = reader.physical(address).value_or(0);
            site.length = decoded.instruction.length;
            site.rdtscp = opcode == cpu::OpcodeId::RDTSCP;
            scan.sites.push_back(site);
        } else if (opcode == cpu::OpcodeId::CPUID || opcode == cpu::OpcodeId::FXSAVE_M) {
            TscReadSite site;
            site.virtual_address = address;
            site.physical_address = reader.physical(address).value_or(0);
            site.length = decoded.instruction.length;
            (opcode == cpu::OpcodeId::CPUID ? scan.cpuid_sites : scan.fxsave_sites).push_back(site);
        }
        const uint64_t next = address + decoded.instruction.length;
        if (next < address) {
            break; // the last instruction of the address space
        }
        address = next;
    }
    return RangeEnd::Reached;
}

} // namespace

TscReadScan find_tsc_read_sites(const GuestMemory& memory, uint64_t cr3,
                                const SymbolTable& symbols) {
    const uint64_t top_table = cr3 & kCr3TableMask;
    if (!memory.contains(top_table, kPageSize)) {
        char why[96];
        std::snprintf(why, sizeof why, "cr3 %#llx: its page table is outside guest RAM",
                      static_cast<unsigned long long>(cr3));
        throw Error("finding TSC reads", why);
    }

    std::optional<uint64_t> text_begin = symbols.address_of("_stext");
    std::optional<uint64_t> text_end = symbols.address_of("_etext");
    const bool bounded = text_begin && text_end && *text_begin < *text_end;

    GuestCodeReader reader(memory, cr3);
    TscReadScan scan;
    const std::vector<Symbol>& all = symbols.symbols(); // sorted by address
    std::optional<uint64_t> last_scanned;
    for (size_t i = 0; i < all.size(); ++i) {
        const Symbol& symbol = all[i];
        const uint64_t begin = symbol.address;
        if (!is_text(symbol.type) || (last_scanned && *last_scanned == begin)) {
            continue;
        }
        if (bounded && (begin < *text_begin || begin >= *text_end)) {
            continue;
        }
        // Up to the next symbol at a higher address, of whatever type.
        uint64_t end = begin + std::min<uint64_t>(SymbolTable::default_max_offset, ~0ULL - begin);
        for (size_t j = i + 1; j < all.size(); ++j) {
            if (all[j].address > begin) {
                end = std::min(end, all[j].address);
                break;
            }
        }
        if (bounded) {
            end = std::min(end, *text_end);
        }
        last_scanned = begin;
        ++scan.symbols_scanned;
        if (!reader.physical(begin)) {
            ++scan.symbols_unmapped;
            continue;
        }
        switch (scan_range(reader, begin, end, scan)) {
        case RangeEnd::Reached:
            break;
        case RangeEnd::Unmapped:
            ++scan.scans_cut_by_unmapped_page;
            break;
        case RangeEnd::DecodeError:
            ++scan.decode_errors;
            break;
        }
    }

    for (std::vector<TscReadSite>* sites : {&scan.sites, &scan.cpuid_sites, &scan.fxsave_sites}) {
        std::sort(sites->begin(), sites->end(), [](const TscReadSite& a, const TscReadSite& b) {
            return a.virtual_address < b.virtual_address;
        });
        sites->erase(std::unique(sites->begin(), sites->end(),
                                 [](const TscReadSite& a, const TscReadSite& b) {
                                     return a.virtual_address == b.virtual_address;
                                 }),
                     sites->end());
    }
    return scan;
}

} // namespace krr
