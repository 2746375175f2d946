#include "recorder/machine/mp_table.h"

#include "guest-model/byte_codec.h"
#include "guest-model/error.h"

#include <string_view>

namespace krr {

namespace {

constexpr uint8_t kSpecRevision = 4; // MP specification 1.4
constexpr size_t kFloatingPointerSize = 16;
constexpr size_t kHeaderSize = 44;

enum EntryType : uint8_t {
    kProcessor = 0,
    kBus = 1,
    kIoApic = 2,
    kIoInterrupt = 3,
    kLocalInterrupt = 4,
};

enum InterruptType : uint8_t { kInt = 0, kNmi = 1, kSmi = 2, kExtInt = 3 };

constexpr uint8_t kCpuEnabled = 0x01;
constexpr uint8_t kCpuBootstrap = 0x02;
constexpr uint8_t kIoApicEnabled = 0x01;
constexpr uint8_t kLocalApicVersion = 0x14;
constexpr uint8_t kIoApicVersion = 0x11;
// Family 6, with FPU and on-chip APIC: what the processor entries claim.
constexpr uint32_t kCpuSignature = 0x600;
constexpr uint32_t kCpuFeatures = 0x201;
constexpr uint8_t kIsaBusId = 0;
constexpr uint8_t kAllLocalApics = 0xff;
// Polarity and trigger mode "conform to the specification of the bus":
// active high and edge triggered for ISA.
constexpr uint16_t kConformingFlags = 0;

void put_text(ByteWriter& out, std::string_view text, size_t width) {
    for (size_t i = 0; i < width; ++i)
        out.u8(i < text.size() ? uint8_t(text[i]) : uint8_t(' '));
}

uint8_t checksum_byte(const std::vector<uint8_t>& bytes, size_t begin, size_t end) {
    uint8_t sum = 0;
    for (size_t i = begin; i < end; ++i)
        sum = uint8_t(sum + bytes[i]);
    return uint8_t(-sum);
}

void put_interrupt(ByteWriter& out, EntryType entry, InterruptType type, uint8_t source_irq,
                   uint8_t destination, uint8_t destination_input) {
    out.u8(entry);
    out.u8(type);
    out.u16(kConformingFlags);
    out.u8(kIsaBusId);
    out.u8(source_irq);
    out.u8(destination);
    out.u8(destination_input);
}

} // namespace

std::optional<unsigned> io_apic_pin_for_isa_irq(unsigned irq) {
    if (irq >= kIsaIrqs || irq == 2)
        return std::nullopt;
    return irq == 0 ? 2 : irq;
}

std::vector<uint8_t> build_mp_table(uint64_t address, const MpTableConfig& config) {
    const char* what = "building the MP table";
    if (config.cpus == 0 || config.cpus > 254)
        throw Error(what, std::to_string(config.cpus) + " CPUs (1 to 254 are possible)");
    if (config.io_apic_id < config.cpus)
        throw Error(what, "the I/O APIC ID must differ from every local APIC ID");
    if (address % 16 != 0 || address + kFloatingPointerSize > 0xffffffff)
        throw Error(what, "the table must be 16-byte aligned below 4 GiB");

    ByteWriter entries;
    uint16_t entry_count = 0;
    for (unsigned cpu = 0; cpu < config.cpus; ++cpu) {
        entries.u8(kProcessor);
        entries.u8(uint8_t(cpu));
        entries.u8(kLocalApicVersion);
        entries.u8(kCpuEnabled | (cpu == 0 ? kCpuBootstrap : 0));
        entries.u32(kCpuSignature);
        entries.u32(kCpuFeatures);
        entries.u32(0);
        entries.u32(0);
        ++entry_count;
    }
    entries.u8(kBus);
    entries.u8(kIsaBusId);
    put_text(entries, "ISA", 6);
    ++entry_count;
    entries.u8(kIoApic);
    entries.u8(config.io_apic_id);
    entries.u8(kIoApicVersion);
    entries.u8(kIoApicEnabled);
    entries.u32(config.io_apic_address);
    ++entry_count;
    for (unsigned irq = 0; irq < kIsaIrqs; ++irq) {
        auto pin = io_apic_pin_for_isa_irq(irq);
        if (!pin)
            continue;
        put_interrupt(entries, kIoInterrupt, kInt, uint8_t(irq), config.io_apic_id, uint8_t(*pin));
        ++entry_count;
    }
    put_interrupt(entries, kLocalInterrupt, kExtInt, 0, kAllLocalApics, 0);
    put_interrupt(entries, kLocalInterrupt, kNmi, 0, kAllLocalApics, 1);
    entry_count += 2;

    uint64_t table_address = address + kFloatingPointerSize;
    size_t table_length = kHeaderSize + entries.size();

    ByteWriter out;
    // Floating pointer structure.
    put_text(out, "_MP_", 4);
    out.u32(uint32_t(table_address));
    out.u8(1); // length in 16-byte units
    out.u8(kSpecRevision);
    out.u8(0); // checksum, below
    out.u8(0); // feature byte 1: 0 = a configuration table is present
    out.u8(0); // feature byte 2: bit 7 clear = virtual wire mode, no IMCR
    out.u8(0);
    out.u8(0);
    out.u8(0);
    // Configuration table header.
    put_text(out, "PCMP", 4);
    out.u16(uint16_t(table_length));
    out.u8(kSpecRevision);
    out.u8(0); // checksum, below
    put_text(out, "KRR", 8);
    put_text(out, "KRR MACHINE", 12);
    out.u32(0); // no OEM table
    out.u16(0);
    out.u16(entry_count);
    out.u32(config.local_apic_address);
    out.u16(0); // no extended table
    out.u8(0);
    out.u8(0);
    out.bytes(entries.data());

    std::vector<uint8_t> bytes = out.take();
    bytes[10] = checksum_byte(bytes, 0, kFloatingPointerSize);
    bytes[kFloatingPointerSize + 7] =
        checksum_byte(bytes, kFloatingPointerSize, kFloatingPointerSize + table_length);
    return bytes;
}

} // namespace krr
