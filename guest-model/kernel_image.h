// A Linux x86 bzImage as the 64-bit boot protocol sees it: the setup header
// a loader copies into boot_params, where the protected-mode code starts, and
// the compressed vmlinux inside it. Loading validates everything krr relies
// on (boot protocol 2.12 or later, a 64-bit entry point, a relocatable
// kernel) so a wrong file is rejected with a reason before anything boots.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace krr {

enum class PayloadCompression { none, gzip, bzip2, lzma, xz, lzo, lz4, zstd, unknown };

std::string compression_name(PayloadCompression compression);

// The GNU build ID (NT_GNU_BUILD_ID in a PT_NOTE segment) of a 64-bit
// little-endian ELF file, as lowercase hex; nullopt when it has none. It ties
// a booted bzImage to the System.map and debug vmlinux built with it.
// Throws krr::Error when the ELF headers are malformed.
std::optional<std::string> elf_gnu_build_id(std::span<const uint8_t> elf);

class KernelImage {
public:
    // Reads and validates a bzImage; throws krr::Error("kernel: <path>", why).
    static KernelImage load(const std::string& path);
    // The same for bytes already in memory; `name` is used in error messages.
    static KernelImage parse(std::vector<uint8_t> bytes, const std::string& name);

    // loadflags and xloadflags bits the loader must look at.
    static constexpr uint8_t loaded_high = 0x01;
    static constexpr uint8_t can_use_heap = 0x80;
    static constexpr uint16_t xlf_kernel_64 = 0x01;
    static constexpr uint16_t xlf_can_be_loaded_above_4g = 0x02;
    // Offset of the 64-bit entry point from the start of the protected-mode code.
    static constexpr uint64_t entry_64_offset = 0x200;
    // Where the setup header starts inside the image and inside boot_params.
    static constexpr size_t setup_header_offset = 0x1f1;

    unsigned setup_sects() const { return setup_sects_; }
    uint16_t protocol_version() const { return protocol_version_; } // e.g. 0x020f
    std::string protocol_version_text() const;                      // e.g. "2.15"
    const std::string& kernel_version() const { return kernel_version_; }
    uint8_t loadflags() const { return loadflags_; }
    uint16_t xloadflags() const { return xloadflags_; }
    uint64_t pref_address() const { return pref_address_; }
    uint32_t init_size() const { return init_size_; }
    uint32_t kernel_alignment() const { return kernel_alignment_; }
    uint32_t cmdline_size() const { return cmdline_size_; }
    uint32_t initrd_addr_max() const { return initrd_addr_max_; }
    // Relative to the start of the protected-mode code, as the header says.
    uint32_t payload_offset() const { return payload_offset_; }
    uint32_t payload_length() const { return payload_length_; }

    // The header bytes from 0x1f1 to its end, to copy into boot_params at 0x1f1.
    std::span<const uint8_t> setup_header_bytes() const;
    // Everything after the real-mode setup: what is loaded at pref_address.
    std::span<const uint8_t> protected_mode_code() const;
    std::span<const uint8_t> payload() const;
    PayloadCompression payload_compression() const;
    // The kernel's vmlinux ELF (stripped of symbols by the kernel build).
    // Throws krr::Error when the payload is corrupt or its format unsupported.
    std::vector<uint8_t> decompress_vmlinux() const;

    const std::vector<uint8_t>& bytes() const { return bytes_; }
    const std::string& name() const { return name_; }

private:
    std::vector<uint8_t> bytes_;
    std::string name_;
    unsigned setup_sects_ = 0;
    size_t setup_header_end_ = 0;
    uint16_t protocol_version_ = 0;
    std::string kernel_version_;
    uint8_t loadflags_ = 0;
    uint16_t xloadflags_ = 0;
    uint64_t pref_address_ = 0;
    uint32_t init_size_ = 0;
    uint32_t kernel_alignment_ = 0;
    uint32_t cmdline_size_ = 0;
    uint32_t initrd_addr_max_ = 0;
    uint32_t payload_offset_ = 0;
    uint32_t payload_length_ = 0;
};

} // namespace krr
