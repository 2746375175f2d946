#include "recorder/guest-image/embedded_init.h"

#include <cstring>
#include <doctest/doctest.h>
#include <elf.h>

// The init is not run here: on a host it would refuse (it is not PID 1), but
// a broken guard would mount over /proc and reboot. Its behaviour is checked
// by booting it (guest-image-qemu); here, that krr carries a usable binary.
TEST_CASE("embedded init: a static x86-64 executable the kernel can run as /init") {
    auto init = krr::embedded_guest_init();
    REQUIRE(init.size() > sizeof(Elf64_Ehdr));
    Elf64_Ehdr header;
    std::memcpy(&header, init.data(), sizeof header);
    CHECK(std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0);
    CHECK(header.e_ident[EI_CLASS] == ELFCLASS64);
    CHECK(header.e_machine == EM_X86_64);
    CHECK(header.e_type == ET_EXEC); // -static: not a PIE needing a loader
    REQUIRE(header.e_phoff + uint64_t(header.e_phnum) * sizeof(Elf64_Phdr) <= init.size());
    for (int i = 0; i < header.e_phnum; ++i) {
        Elf64_Phdr ph;
        std::memcpy(&ph, init.data() + header.e_phoff + size_t(i) * sizeof ph, sizeof ph);
        CAPTURE(i);
        CHECK(ph.p_type != PT_INTERP); // no dynamic loader in the initramfs
        CHECK(ph.p_type != PT_DYNAMIC);
    }
}
