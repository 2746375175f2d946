#include "guest-model/kernel_image.h"

#include "guest-model/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <lzma.h>
#include <memory>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

namespace krr {

namespace {

// Documentation/x86/boot.rst, "The Real-Mode Kernel Header".
constexpr size_t off_setup_sects = 0x1f1;
constexpr size_t off_syssize = 0x1f4;
constexpr size_t off_boot_flag = 0x1fe;
constexpr size_t off_jump = 0x200;
constexpr size_t off_header_magic = 0x202;
constexpr size_t off_version = 0x206;
constexpr size_t off_kernel_version = 0x20e;
constexpr size_t off_loadflags = 0x211;
constexpr size_t off_initrd_addr_max = 0x22c;
constexpr size_t off_kernel_alignment = 0x230;
constexpr size_t off_relocatable = 0x234;
constexpr size_t off_xloadflags = 0x236;
constexpr size_t off_cmdline_size = 0x238;
constexpr size_t off_payload_offset = 0x248;
constexpr size_t off_payload_length = 0x24c;
constexpr size_t off_pref_address = 0x258;
constexpr size_t off_init_size = 0x260;
constexpr size_t header_fields_end = 0x264;

constexpr uint16_t min_protocol = 0x020c; // 2.12: xloadflags and the 64-bit entry
constexpr size_t max_image_size = 256u << 20;
// A decompressed kernel is tens of megabytes; anything near this is a
// corrupt or hostile payload, not a kernel.
constexpr size_t max_vmlinux_size = 1u << 30;

uint64_t read_le(const std::vector<uint8_t>& bytes, size_t offset, int width) {
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) {
        v = (v << 8) | bytes[offset + i];
    }
    return v;
}

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

std::vector<uint8_t> read_whole_file(const std::string& path, const std::string& what) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw Error(what, errno_text(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw Error(what, "not a regular file");
    }
    if (static_cast<uint64_t>(st.st_size) > max_image_size) {
        throw Error(what,
                    "too large for a kernel image (" + std::to_string(st.st_size) + " bytes)");
    }
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) {
        throw Error(what, errno_text(errno));
    }
    std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
    if (!bytes.empty() && std::fread(bytes.data(), 1, bytes.size(), f.get()) != bytes.size()) {
        throw Error(what, std::ferror(f.get()) ? errno_text(errno) : "file shrank while reading");
    }
    return bytes;
}

// The size the kernel build appends after a compressed payload: a hint for
// the output buffer, never trusted beyond the cap.
size_t size_hint(std::span<const uint8_t> payload) {
    if (payload.size() < 4) {
        return 1u << 20;
    }
    const uint8_t* t = payload.data() + payload.size() - 4;
    uint64_t v = t[0] | (t[1] << 8) | (t[2] << 16) | (uint64_t(t[3]) << 24);
    // Kernels compress three- to fivefold; a wilder claim is not believed.
    if (v == 0 || v > max_vmlinux_size || v / 32 > payload.size()) {
        return 1u << 20;
    }
    return static_cast<size_t>(v);
}

void grow(std::vector<uint8_t>& out, size_t used, const std::string& what) {
    if (out.size() >= max_vmlinux_size) {
        throw Error(what, "decompressed kernel exceeds " + std::to_string(max_vmlinux_size >> 20) +
                              " MiB");
    }
    out.resize(std::min(max_vmlinux_size, std::max(out.size() * 2, used + (1u << 20))));
}

std::vector<uint8_t> inflate_xz(std::span<const uint8_t> in, const std::string& what) {
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) {
        throw Error(what, "cannot initialise the xz decoder");
    }
    std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> guard(&s, &lzma_end);
    std::vector<uint8_t> out(size_hint(in));
    s.next_in = in.data();
    s.avail_in = in.size();
    size_t used = 0;
    for (;;) {
        if (used == out.size()) {
            grow(out, used, what);
        }
        s.next_out = out.data() + used;
        s.avail_out = out.size() - used;
        lzma_ret r = lzma_code(&s, LZMA_FINISH);
        used = out.size() - s.avail_out;
        if (r == LZMA_STREAM_END) {
            break;
        }
        if (r == LZMA_OK || (r == LZMA_BUF_ERROR && s.avail_out == 0)) {
            continue;
        }
        throw Error(what, r == LZMA_BUF_ERROR
                              ? "xz payload is truncated"
                              : "xz payload is corrupt (liblzma error " + std::to_string(r) + ")");
    }
    out.resize(used);
    return out;
}

std::vector<uint8_t> inflate_gzip(std::span<const uint8_t> in, const std::string& what) {
    z_stream s{};
    if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) {
        throw Error(what, "cannot initialise the gzip decoder");
    }
    std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&s, &inflateEnd);
    std::vector<uint8_t> out(size_hint(in));
    // zlib counts in uInt; a kernel payload is far below 4 GiB.
    s.next_in = const_cast<Bytef*>(in.data());
    s.avail_in = static_cast<uInt>(in.size());
    size_t used = 0;
    for (;;) {
        if (used == out.size()) {
            grow(out, used, what);
        }
        s.next_out = out.data() + used;
        s.avail_out = static_cast<uInt>(out.size() - used);
        int r = inflate(&s, Z_NO_FLUSH);
        used = out.size() - s.avail_out;
        if (r == Z_STREAM_END) {
            break;
        }
        if (r == Z_OK || (r == Z_BUF_ERROR && s.avail_out == 0)) {
            continue;
        }
        throw Error(what, r == Z_BUF_ERROR ? "gzip payload is truncated"
                                           : std::string("gzip payload is corrupt: ") +
                                                 (s.msg ? s.msg : "zlib error"));
    }
    out.resize(used);
    return out;
}

std::vector<uint8_t> inflate_zstd(std::span<const uint8_t> in, const std::string& what) {
    std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> d(ZSTD_createDStream(),
                                                               &ZSTD_freeDStream);
    if (!d) {
        throw Error(what, "cannot initialise the zstd decoder");
    }
    std::vector<uint8_t> out(size_hint(in));
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    size_t used = 0;
    for (;;) {
        if (used == out.size()) {
            grow(out, used, what);
        }
        ZSTD_outBuffer output{out.data(), out.size(), used};
        size_t r = ZSTD_decompressStream(d.get(), &output, &input);
        used = output.pos;
        if (ZSTD_isError(r)) {
            throw Error(what, std::string("zstd payload is corrupt: ") + ZSTD_getErrorName(r));
        }
        if (r == 0) {
            break;
        }
        if (input.pos == input.size && output.pos < output.size) {
            throw Error(what, "zstd payload is truncated");
        }
    }
    out.resize(used);
    return out;
}

bool starts_with(std::span<const uint8_t> data, std::initializer_list<uint8_t> magic) {
    if (data.size() < magic.size()) {
        return false;
    }
    return std::equal(magic.begin(), magic.end(), data.begin());
}

} // namespace

std::string compression_name(PayloadCompression compression) {
    switch (compression) {
    case PayloadCompression::none:
        return "uncompressed";
    case PayloadCompression::gzip:
        return "gzip";
    case PayloadCompression::bzip2:
        return "bzip2";
    case PayloadCompression::lzma:
        return "lzma";
    case PayloadCompression::xz:
        return "xz";
    case PayloadCompression::lzo:
        return "lzo";
    case PayloadCompression::lz4:
        return "lz4";
    case PayloadCompression::zstd:
        return "zstd";
    case PayloadCompression::unknown:
        break;
    }
    return "unknown";
}

std::optional<std::string> elf_gnu_build_id(std::span<const uint8_t> elf) {
    const std::string what = "ELF build ID";
    auto read = [&](uint64_t offset, int width) -> uint64_t {
        if (offset > elf.size() || uint64_t(width) > elf.size() - offset) {
            throw Error(what, "truncated ELF file (offset " + hex(offset) + ")");
        }
        uint64_t v = 0;
        for (int i = width - 1; i >= 0; --i) {
            v = (v << 8) | elf[offset + uint64_t(i)];
        }
        return v;
    };
    if (!starts_with(elf, {0x7f, 'E', 'L', 'F'}) || read(4, 1) != 2 || read(5, 1) != 1) {
        throw Error(what, "not a 64-bit little-endian ELF file");
    }
    constexpr uint32_t pt_note = 4;
    constexpr uint32_t nt_gnu_build_id = 3;
    const uint64_t phoff = read(0x20, 8);
    const uint64_t phentsize = read(0x36, 2);
    const uint64_t phnum = read(0x38, 2);
    if (phnum != 0 && phentsize < 0x38) {
        throw Error(what, "program header entries of " + std::to_string(phentsize) + " bytes");
    }
    for (uint64_t i = 0; i < phnum; ++i) {
        const uint64_t ph = phoff + i * phentsize;
        if (read(ph, 4) != pt_note) {
            continue;
        }
        const uint64_t offset = read(ph + 0x08, 8);
        const uint64_t size = read(ph + 0x20, 8);
        if (offset > elf.size() || size > elf.size() - offset) {
            throw Error(what,
                        "note segment " + hex(offset) + "+" + hex(size) + " lies outside the file");
        }
        // Notes: namesz, descsz, type, then name and descriptor, each padded to 4.
        uint64_t at = offset;
        while (at + 12 <= offset + size) {
            const uint64_t namesz = read(at, 4);
            const uint64_t descsz = read(at + 4, 4);
            const uint64_t type = read(at + 8, 4);
            const uint64_t name_at = at + 12;
            const uint64_t desc_at = name_at + ((namesz + 3) & ~uint64_t(3));
            const uint64_t next = desc_at + ((descsz + 3) & ~uint64_t(3));
            if (next > offset + size) {
                throw Error(what, "a note overruns its segment");
            }
            if (type == nt_gnu_build_id && namesz == 4 &&
                std::memcmp(&elf[name_at], "GNU", 4) == 0) {
                std::string id;
                for (uint64_t b = 0; b < descsz; ++b) {
                    char digits[3];
                    std::snprintf(digits, sizeof digits, "%02x", elf[desc_at + b]);
                    id += digits;
                }
                return id;
            }
            at = next;
        }
    }
    return std::nullopt;
}

KernelImage KernelImage::load(const std::string& path) {
    return parse(read_whole_file(path, "kernel: " + path), path);
}

KernelImage KernelImage::parse(std::vector<uint8_t> bytes, const std::string& name) {
    const std::string what = "kernel: " + name;
    if (bytes.size() < header_fields_end) {
        throw Error(what, "too short for a bzImage (" + std::to_string(bytes.size()) + " bytes)");
    }
    if (read_le(bytes, off_boot_flag, 2) != 0xaa55 ||
        std::memcmp(&bytes[off_header_magic], "HdrS", 4) != 0) {
        throw Error(what, "not a Linux bzImage (no boot signature and HdrS header)");
    }
    KernelImage k;
    k.name_ = name;
    k.protocol_version_ = static_cast<uint16_t>(read_le(bytes, off_version, 2));
    if (k.protocol_version_ < min_protocol) {
        throw Error(what, "boot protocol " + k.protocol_version_text() +
                              " is too old (2.12 or later is needed for the 64-bit entry)");
    }
    k.setup_sects_ = bytes[off_setup_sects] == 0 ? 4 : bytes[off_setup_sects];
    const size_t setup_size = (size_t(k.setup_sects_) + 1) * 512;
    if (setup_size >= bytes.size()) {
        throw Error(what, "truncated: the real-mode setup (" + std::to_string(setup_size) +
                              " bytes) fills the whole file");
    }
    // The jump at 0x200 is a short jump over the header; its target is where
    // the header ends.
    k.setup_header_end_ = off_header_magic + bytes[off_jump + 1];
    if (k.setup_header_end_ < header_fields_end || k.setup_header_end_ > setup_size) {
        throw Error(what, "setup header length " + hex(k.setup_header_end_) + " is implausible");
    }
    k.loadflags_ = bytes[off_loadflags];
    k.xloadflags_ = static_cast<uint16_t>(read_le(bytes, off_xloadflags, 2));
    if (!(k.loadflags_ & loaded_high)) {
        throw Error(what, "not a bzImage (a zImage loaded low is not supported)");
    }
    if (bytes[off_relocatable] == 0) {
        throw Error(what, "the kernel is not relocatable (CONFIG_RELOCATABLE is off)");
    }
    if (!(k.xloadflags_ & xlf_kernel_64)) {
        throw Error(what,
                    "the kernel has no 64-bit entry point (xloadflags " + hex(k.xloadflags_) + ")");
    }
    k.initrd_addr_max_ = static_cast<uint32_t>(read_le(bytes, off_initrd_addr_max, 4));
    k.kernel_alignment_ = static_cast<uint32_t>(read_le(bytes, off_kernel_alignment, 4));
    k.cmdline_size_ = static_cast<uint32_t>(read_le(bytes, off_cmdline_size, 4));
    k.payload_offset_ = static_cast<uint32_t>(read_le(bytes, off_payload_offset, 4));
    k.payload_length_ = static_cast<uint32_t>(read_le(bytes, off_payload_length, 4));
    k.pref_address_ = read_le(bytes, off_pref_address, 8);
    k.init_size_ = static_cast<uint32_t>(read_le(bytes, off_init_size, 4));

    const size_t code_size = bytes.size() - setup_size;
    const uint64_t syssize_bytes = read_le(bytes, off_syssize, 4) * 16;
    if (syssize_bytes > code_size) {
        throw Error(what, "truncated: the header announces " + std::to_string(syssize_bytes) +
                              " bytes of kernel code, the file has " + std::to_string(code_size));
    }
    if (uint64_t(k.payload_offset_) + k.payload_length_ > code_size || k.payload_length_ == 0) {
        throw Error(what, "truncated or corrupt: payload " + hex(k.payload_offset_) + "+" +
                              hex(k.payload_length_) + " lies outside the " +
                              std::to_string(code_size) + " bytes of kernel code");
    }
    if (k.init_size_ == 0 || k.init_size_ < code_size) {
        throw Error(what, "init_size " + hex(k.init_size_) + " is smaller than the kernel");
    }

    // kernel_version points (from 0x200) to a NUL-terminated string inside the setup.
    const uint64_t version_ptr = read_le(bytes, off_kernel_version, 2);
    if (version_ptr != 0) {
        size_t at = 0x200 + version_ptr;
        size_t end = at;
        while (end < setup_size && bytes[end] != 0 && end - at < 256) {
            ++end;
        }
        if (at < setup_size && end < setup_size && bytes[end] == 0) {
            k.kernel_version_.assign(bytes.begin() + at, bytes.begin() + end);
        }
    }
    k.bytes_ = std::move(bytes);
    return k;
}

std::string KernelImage::protocol_version_text() const {
    return std::to_string(protocol_version_ >> 8) + "." + std::to_string(protocol_version_ & 0xff);
}

std::span<const uint8_t> KernelImage::setup_header_bytes() const {
    return std::span<const uint8_t>(bytes_).subspan(setup_header_offset,
                                                    setup_header_end_ - setup_header_offset);
}

std::span<const uint8_t> KernelImage::protected_mode_code() const {
    return std::span<const uint8_t>(bytes_).subspan((size_t(setup_sects_) + 1) * 512);
}

std::span<const uint8_t> KernelImage::payload() const {
    return protected_mode_code().subspan(payload_offset_, payload_length_);
}

PayloadCompression KernelImage::payload_compression() const {
    auto p = payload();
    if (starts_with(p, {0x1f, 0x8b})) {
        return PayloadCompression::gzip;
    }
    if (starts_with(p, {0xfd, '7', 'z', 'X', 'Z', 0x00})) {
        return PayloadCompression::xz;
    }
    if (starts_with(p, {0x28, 0xb5, 0x2f, 0xfd})) {
        return PayloadCompression::zstd;
    }
    if (starts_with(p, {'B', 'Z', 'h'})) {
        return PayloadCompression::bzip2;
    }
    if (starts_with(p, {0x5d, 0x00, 0x00})) {
        return PayloadCompression::lzma;
    }
    if (starts_with(p, {0x89, 'L', 'Z', 'O'})) {
        return PayloadCompression::lzo;
    }
    if (starts_with(p, {0x02, 0x21, 0x4c, 0x18})) {
        return PayloadCompression::lz4;
    }
    if (starts_with(p, {0x7f, 'E', 'L', 'F'})) {
        return PayloadCompression::none;
    }
    return PayloadCompression::unknown;
}

std::vector<uint8_t> KernelImage::decompress_vmlinux() const {
    const std::string what = "kernel: " + name_ + ": payload";
    const auto compression = payload_compression();
    std::vector<uint8_t> elf;
    switch (compression) {
    case PayloadCompression::none:
        elf.assign(payload().begin(), payload().end());
        break;
    case PayloadCompression::xz:
        elf = inflate_xz(payload(), what);
        break;
    case PayloadCompression::gzip:
        elf = inflate_gzip(payload(), what);
        break;
    case PayloadCompression::zstd:
        elf = inflate_zstd(payload(), what);
        break;
    case PayloadCompression::unknown:
        throw Error(what, "unrecognised compression (no known magic at its start)");
    default:
        throw Error(what, compression_name(compression) + " compression is not supported");
    }
    if (!starts_with(elf, {0x7f, 'E', 'L', 'F'})) {
        throw Error(what,
                    "decompressed " + compression_name(compression) + " data is not an ELF file");
    }
    return elf;
}

} // namespace krr
