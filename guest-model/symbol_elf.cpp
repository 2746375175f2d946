#include "guest-model/symbol_elf.h"

#include "guest-model/checksum.h"
#include "guest-model/error.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <gelf.h>
#include <libelf.h>
#include <memory>
#include <optional>
#include <span>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace krr {

namespace {

// Part of every cached file's name: a change to what the generator writes
// must not be hidden by files an older krr left in the cache.
constexpr const char* symbol_file_format = "v1";

// In a kernel's map, addresses below this are per-CPU offsets (the per-CPU
// area is linked at 0), not places in the kernel image.
constexpr uint64_t kernel_half_start = 0xffff800000000000;

enum class Region { text, rodata, data, bss };

struct RegionKind {
    const char* name;
    uint64_t flags;
};

// BFD classifies a symbol by its section's flags: SHF_EXECINSTR makes gdb
// take it for a function; an allocated section without it, for data.
constexpr RegionKind region_kinds[] = {
    {".text", SHF_ALLOC | SHF_EXECINSTR},
    {".rodata", SHF_ALLOC},
    {".data", SHF_ALLOC | SHF_WRITE},
    {".bss", SHF_ALLOC | SHF_WRITE},
};

const RegionKind& kind_of(Region region) {
    return region_kinds[static_cast<int>(region)];
}

std::optional<Region> region_of(char type) {
    switch (type) {
    case 'T':
    case 't':
    case 'W':
        return Region::text;
    case 'R':
    case 'r':
        return Region::rodata;
    case 'D':
    case 'd':
    case 'V':
        return Region::data;
    case 'B':
    case 'b':
        return Region::bss;
    default:
        return std::nullopt;
    }
}

unsigned char binding_of(char type) {
    if (type == 'W' || type == 'V') {
        return STB_WEAK;
    }
    return (type >= 'a' && type <= 'z') ? STB_LOCAL : STB_GLOBAL;
}

bool is_marker(const Symbol& s) {
    return s.name[0] == '_';
}

struct Section {
    Region region;
    uint64_t address = 0;
    uint64_t size = 0;
};

struct PlacedSymbol {
    const Symbol* symbol = nullptr;
    uint64_t size = 0;
    int section = -1; // index into Layout::sections; -1: absolute
};

struct Layout {
    std::vector<Section> sections;
    std::vector<PlacedSymbol> symbols; // by address
};

// Sections are the maximal runs of symbols of one region, so they never
// overlap (gdb distrusts overlapping sections when it maps a pc to one).
// Aliases at one address share a section, chosen by the alias that names the
// place (not a marker such as _stext or __start_rodata), and markers get size
// 0 there so gdb, which prefers a sized symbol, names the function or object.
Layout lay_out(const std::vector<Symbol>& symbols) {
    std::vector<const Symbol*> kept;
    for (const Symbol& s : symbols) {
        if (region_of(s.type)) {
            kept.push_back(&s);
        }
    }
    Layout layout;
    for (size_t first = 0; first < kept.size();) {
        const uint64_t address = kept[first]->address;
        size_t end = first;
        const Symbol* namer = kept[first];
        while (end < kept.size() && kept[end]->address == address) {
            if (is_marker(*namer) && !is_marker(*kept[end])) {
                namer = kept[end];
            }
            ++end;
        }
        const uint64_t size = end < kept.size() ? std::min(kept[end]->address - address,
                                                           SymbolTable::default_max_offset)
                                                : 0;
        int section = -1;
        if (address >= kernel_half_start) {
            const Region region = *region_of(namer->type);
            auto& sections = layout.sections;
            if (sections.empty() || sections.back().region != region ||
                sections.back().address + sections.back().size != address) {
                sections.push_back({region, address, 0});
            }
            sections.back().size = address + size - sections.back().address;
            section = static_cast<int>(sections.size()) - 1;
        }
        for (size_t i = first; i < end; ++i) {
            const bool shadowed = kept[i] != namer && is_marker(*kept[i]) && !is_marker(*namer);
            layout.symbols.push_back({kept[i], shadowed ? 0 : size, section});
        }
        first = end;
    }
    return layout;
}

class StringTable {
public:
    StringTable() : bytes_(1, '\0') {}
    Elf64_Word add(const std::string& s) {
        const auto offset = static_cast<Elf64_Word>(bytes_.size());
        bytes_.append(s);
        bytes_.push_back('\0');
        return offset;
    }
    std::string& bytes() { return bytes_; }

private:
    std::string bytes_;
};

// A file beside its final path that disappears unless it is renamed there.
class TemporaryFile {
public:
    explicit TemporaryFile(const std::string& target) : target_(target), path_(target + ".XXXXXX") {
        fd_ = ::mkstemp(path_.data());
        if (fd_ < 0) {
            throw Error("symbol file: " + target_, errno_text(errno));
        }
    }
    ~TemporaryFile() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        if (!committed_) {
            ::unlink(path_.c_str());
        }
    }
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    int fd() const { return fd_; }

    void commit() {
        // mkstemp makes it private; a symbol file is as readable as the map.
        if (::fchmod(fd_, 0644) != 0 || ::fsync(fd_) != 0) {
            throw Error("symbol file: " + target_, errno_text(errno));
        }
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) {
            throw Error("symbol file: " + target_, errno_text(errno));
        }
        if (::rename(path_.c_str(), target_.c_str()) != 0) {
            throw Error("symbol file: " + target_, errno_text(errno));
        }
        committed_ = true;
    }

private:
    std::string target_;
    std::string path_;
    int fd_ = -1;
    bool committed_ = false;
};

class ElfWriter {
public:
    ElfWriter(int fd, const std::string& what) : what_(what), elf_(nullptr, elf_end) {
        if (elf_version(EV_CURRENT) == EV_NONE) {
            throw Error(what_, "libelf is out of date");
        }
        elf_.reset(elf_begin(fd, ELF_C_WRITE, nullptr));
        if (!elf_) {
            fail("elf_begin");
        }
        Elf64_Ehdr* header = elf64_newehdr(elf_.get());
        if (!header) {
            fail("ELF header");
        }
        header->e_ident[EI_DATA] = ELFDATA2LSB;
        header->e_ident[EI_OSABI] = ELFOSABI_NONE;
        header->e_type = ET_EXEC;
        header->e_machine = EM_X86_64;
        header->e_version = EV_CURRENT;
    }

    // Returns the new section's index.
    size_t add_section(const Elf64_Shdr& wanted, void* data, size_t size, Elf_Type type) {
        Elf_Scn* scn = elf_newscn(elf_.get());
        if (!scn) {
            fail("new section");
        }
        Elf_Data* d = elf_newdata(scn);
        if (!d) {
            fail("section data");
        }
        // NOBITS data has a size and no buffer: libelf sizes the section by
        // it and writes nothing to the file.
        d->d_buf = data;
        d->d_size = size;
        d->d_type = type;
        d->d_align = wanted.sh_addralign;
        Elf64_Shdr* shdr = elf64_getshdr(scn);
        if (!shdr) {
            fail("section header");
        }
        *shdr = wanted;
        return elf_ndxscn(scn);
    }

    void finish(size_t section_names_index) {
        elf64_getehdr(elf_.get())->e_shstrndx = static_cast<Elf64_Half>(section_names_index);
        if (elf_update(elf_.get(), ELF_C_WRITE) < 0) {
            fail("writing");
        }
    }

private:
    [[noreturn]] void fail(const char* step) {
        throw Error(what_, std::string(step) + ": " + elf_errmsg(-1));
    }

    std::string what_;
    std::unique_ptr<Elf, int (*)(Elf*)> elf_;
};

Elf64_Shdr section_header(Elf64_Word name, Elf64_Word type, uint64_t flags, uint64_t address,
                          uint64_t size, uint64_t align) {
    Elf64_Shdr h{};
    h.sh_name = name;
    h.sh_type = type;
    h.sh_flags = flags;
    h.sh_addr = address;
    h.sh_size = size;
    h.sh_addralign = align;
    return h;
}

} // namespace

void write_symbol_elf(const SymbolTable& symbols, const std::string& path) {
    const std::string what = "symbol file: " + path;
    const Layout layout = lay_out(symbols.symbols());
    // A symbol names its section in 16 bits, below the reserved indices.
    if (layout.sections.size() + 4 > SHN_LORESERVE) {
        throw Error(what, std::to_string(layout.sections.size()) +
                              " alternations between text and data: not a kernel's map");
    }

    StringTable section_names;
    const Elf64_Word symtab_name = section_names.add(".symtab");
    const Elf64_Word strtab_name = section_names.add(".strtab");
    const Elf64_Word shstrtab_name = section_names.add(".shstrtab");
    Elf64_Word region_names[std::size(region_kinds)];
    for (size_t i = 0; i < std::size(region_kinds); ++i) {
        region_names[i] = section_names.add(region_kinds[i].name);
    }

    // Sections are numbered from 1 in the order they are added: the regions
    // first, then the tables.
    const auto symtab_index = layout.sections.size() + 1;
    const auto strtab_index = symtab_index + 1;

    StringTable names;
    std::vector<Elf64_Sym> entries(1); // entry 0 is the undefined symbol
    // ELF wants every local symbol before the first global one.
    for (bool locals : {true, false}) {
        for (const PlacedSymbol& p : layout.symbols) {
            const unsigned char binding = binding_of(p.symbol->type);
            if ((binding == STB_LOCAL) != locals) {
                continue;
            }
            const unsigned char type =
                *region_of(p.symbol->type) == Region::text ? STT_FUNC : STT_OBJECT;
            Elf64_Sym e{};
            e.st_name = names.add(p.symbol->name);
            e.st_info = ELF64_ST_INFO(binding, type);
            e.st_shndx = p.section < 0 ? SHN_ABS : static_cast<Elf64_Half>(p.section + 1);
            e.st_value = p.symbol->address;
            e.st_size = p.size;
            entries.push_back(e);
        }
    }
    const auto first_global = static_cast<Elf64_Word>(
        1 + std::count_if(layout.symbols.begin(), layout.symbols.end(), [](const PlacedSymbol& p) {
            return binding_of(p.symbol->type) == STB_LOCAL;
        }));

    TemporaryFile file(path);
    {
        ElfWriter writer(file.fd(), what);
        for (const Section& s : layout.sections) {
            const RegionKind& kind = kind_of(s.region);
            writer.add_section(section_header(region_names[static_cast<int>(s.region)], SHT_NOBITS,
                                              kind.flags, s.address, s.size, 1),
                               nullptr, s.size, ELF_T_BYTE);
        }
        Elf64_Shdr symtab =
            section_header(symtab_name, SHT_SYMTAB, 0, 0, entries.size() * sizeof(Elf64_Sym), 8);
        symtab.sh_link = static_cast<Elf64_Word>(strtab_index);
        symtab.sh_info = first_global;
        symtab.sh_entsize = sizeof(Elf64_Sym);
        writer.add_section(symtab, entries.data(), entries.size() * sizeof(Elf64_Sym), ELF_T_SYM);
        writer.add_section(section_header(strtab_name, SHT_STRTAB, 0, 0, names.bytes().size(), 1),
                           names.bytes().data(), names.bytes().size(), ELF_T_BYTE);
        const size_t shstrtab_index = writer.add_section(
            section_header(shstrtab_name, SHT_STRTAB, 0, 0, section_names.bytes().size(), 1),
            section_names.bytes().data(), section_names.bytes().size(), ELF_T_BYTE);
        writer.finish(shstrtab_index);
    }
    file.commit();
}

std::string symbol_elf_for(const std::string& system_map_path, const std::string& cache_dir) {
    namespace fs = std::filesystem;
    const std::string text = SymbolTable::read_map_text(system_map_path);
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(text.data()),
                                         text.size());
    const fs::path path = fs::path(cache_dir) / ("system-map-" + content_hash_hex(bytes) + "-" +
                                                 symbol_file_format + ".elf");
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
        return path.string();
    }
    fs::create_directories(cache_dir, ec);
    if (ec) {
        throw Error("symbol cache: " + cache_dir, ec.message());
    }
    write_symbol_elf(SymbolTable::parse(text, system_map_path), path.string());
    return path.string();
}

} // namespace krr
