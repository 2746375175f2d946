#include "tests/kvm/micro_guest_boot.h"

#include "guest-model/error.h"
#include "recorder/machine/guest_layout.h"
#include "recorder/machine/linux_loader.h"

#include <fstream>
#include <iterator>

namespace krr::test {

namespace {

constexpr uint64_t kPresentWritable = 0x3;
constexpr uint64_t kLargePage = 0x80;
constexpr uint64_t kTwoMiB = 2ULL << 20;
constexpr uint64_t kCode64Descriptor = 0x00af9b000000ffffULL;
constexpr uint64_t kDataDescriptor = 0x00cf93000000ffffULL;

void write_u64s(GuestMemory& memory, uint64_t address, const std::vector<uint64_t>& values) {
    std::vector<uint8_t> bytes(values.size() * 8);
    for (size_t i = 0; i < values.size(); ++i)
        for (int b = 0; b < 8; ++b)
            bytes[i * 8 + size_t(b)] = uint8_t(values[i] >> (8 * b));
    if (!memory.write(address, bytes))
        throw Error("loading a flat image", "guest memory too small for the page tables");
}

} // namespace

CpuState load_flat_image(GuestMemory& memory, std::span<const uint8_t> image, uint64_t address) {
    using namespace guest_layout;
    if (!memory.write(address, image))
        throw Error("loading a flat image", "it does not fit in guest memory");
    std::vector<uint64_t> pml4(512, 0);
    pml4[0] = kPdpt | kPresentWritable;
    write_u64s(memory, kPml4, pml4);
    std::vector<uint64_t> pdpt(512, 0);
    for (unsigned i = 0; i < 4; ++i)
        pdpt[i] = (kPageDirectories + i * kPageSize) | kPresentWritable;
    write_u64s(memory, kPdpt, pdpt);
    std::vector<uint64_t> directories;
    for (uint64_t i = 0; i < 4 * 512; ++i)
        directories.push_back((i * kTwoMiB) | kLargePage | kPresentWritable);
    write_u64s(memory, kPageDirectories, directories);
    write_u64s(memory, kGdt, {0, 0, kCode64Descriptor, kDataDescriptor});
    return linux_entry_state(address, 0, kPml4, kGdt, kBootStackTop);
}

std::vector<uint8_t> read_binary(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("reading " + path, "cannot open it");
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

} // namespace krr::test
