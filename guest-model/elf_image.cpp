#include "guest-model/elf_image.h"

#include "guest-model/error.h"

#include <gelf.h>
#include <libelf.h>
#include <memory>

namespace krr {

ElfImage parse_elf_image(std::span<const uint8_t> bytes, const std::string& name) {
    if (elf_version(EV_CURRENT) == EV_NONE) {
        throw Error(name, "libelf is out of date");
    }
    // libelf does not write through this pointer for ELF_C_READ_MMAP-less
    // reading from memory; the cast is its API's.
    std::unique_ptr<Elf, int (*)(Elf*)> elf(
        elf_memory(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())), bytes.size()),
        elf_end);
    if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
        throw Error(name, "not an ELF file");
    }
    GElf_Ehdr header;
    if (!gelf_getehdr(elf.get(), &header)) {
        throw Error(name, std::string("bad ELF header: ") + elf_errmsg(-1));
    }
    if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB ||
        header.e_machine != EM_X86_64 || header.e_type != ET_EXEC) {
        throw Error(name, "not a little-endian x86-64 ELF64 executable");
    }
    size_t count = 0;
    if (elf_getphdrnum(elf.get(), &count) != 0) {
        throw Error(name, std::string("bad program headers: ") + elf_errmsg(-1));
    }
    ElfImage image;
    image.entry = header.e_entry;
    for (size_t i = 0; i < count; ++i) {
        GElf_Phdr p;
        if (!gelf_getphdr(elf.get(), static_cast<int>(i), &p)) {
            throw Error(name, "program header " + std::to_string(i) + " is unreadable");
        }
        if (p.p_type != PT_LOAD) {
            continue;
        }
        if (p.p_filesz > p.p_memsz || p.p_offset > bytes.size() ||
            p.p_filesz > bytes.size() - p.p_offset) {
            throw Error(name, "segment " + std::to_string(i) + " lies outside the file");
        }
        image.segments.push_back({p.p_paddr, p.p_vaddr, p.p_offset, p.p_filesz, p.p_memsz});
    }
    if (image.segments.empty()) {
        throw Error(name, "no loadable segments");
    }
    return image;
}

} // namespace krr
