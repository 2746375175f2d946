#include "recorder/machine/firmware_tables.h"

#include "guest-model/error.h"
#include "recorder/machine/guest_layout.h"

#include <array>

namespace krr {

namespace {

// BDA word at 0x40e: the EBDA's real-mode segment; at 0x413: KiB of base
// memory below the EBDA. reserve_bios_regions() and get_bios_ebda() read them.
constexpr uint64_t kEbdaSegmentWord = 0x40e;
constexpr uint64_t kBaseMemoryKibWord = 0x413;

void put_u16(GuestMemory& memory, uint64_t address, uint16_t value) {
    std::array<uint8_t, 2> bytes = {uint8_t(value), uint8_t(value >> 8)};
    if (!memory.write(address, bytes))
        throw Error("writing the BIOS data area", "guest memory is too small");
}

} // namespace

void install_firmware_tables(GuestMemory& memory, const MpTableConfig& mp) {
    using namespace guest_layout;
    put_u16(memory, kEbdaSegmentWord, uint16_t(kEbda >> 4));
    put_u16(memory, kBaseMemoryKibWord, uint16_t(kEbda >> 10));
    std::vector<uint8_t> table = build_mp_table(kEbda, mp);
    if (table.size() > kEbdaEnd - kEbda)
        throw Error("writing the MP table", "it does not fit in the EBDA");
    if (!memory.write(kEbda, table))
        throw Error("writing the MP table", "guest memory is too small");
}

} // namespace krr
