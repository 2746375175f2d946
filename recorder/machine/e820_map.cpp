#include "recorder/machine/e820_map.h"

#include "guest-model/error.h"
#include "guest-model/guest_memory.h"
#include "recorder/machine/guest_layout.h"
#include "recorder/machine/log.h"

namespace krr {

std::vector<E820Entry> build_e820_map(uint64_t memory_bytes) {
    using namespace guest_layout;
    const char* what = "building the e820 memory map";
    if (memory_bytes < 2 * kHighMemory)
        throw Error(what, "guest memory of " + hex(memory_bytes) + " bytes is below 2 MiB");
    if (memory_bytes > kMaxMemory)
        throw Error(what, "guest memory of " + hex(memory_bytes) + " bytes is above " +
                              hex(kMaxMemory) + ", where the APIC windows would overlap it");
    if (memory_bytes % kPageSize != 0)
        throw Error(what, "guest memory size " + hex(memory_bytes) + " is not page aligned");
    return {
        {0, kEbda, E820Type::Ram},
        {kEbda, kEbdaEnd - kEbda, E820Type::Reserved},
        {kBiosRom, kHighMemory - kBiosRom, E820Type::Reserved},
        {kHighMemory, memory_bytes - kHighMemory, E820Type::Ram},
        {kIoApicBase, kApicWindowSize, E820Type::Reserved},
        {kLocalApicBase, kApicWindowSize, E820Type::Reserved},
    };
}

} // namespace krr
