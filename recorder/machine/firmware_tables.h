// What a BIOS would have left in low memory for the kernel to find, without
// a BIOS: the BIOS data area words the kernel reads to locate the EBDA, and
// the MP table inside the EBDA (mpparse scans the EBDA's first KiB).
#pragma once

#include "guest-model/guest_memory.h"
#include "recorder/machine/mp_table.h"

namespace krr {

// Throws krr::Error when memory is too small to hold them.
void install_firmware_tables(GuestMemory& memory, const MpTableConfig& mp);

} // namespace krr
