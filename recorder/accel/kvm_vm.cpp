#include "recorder/accel/kvm_vm.h"

#include "guest-model/error.h"

#include <cerrno>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace krr {

namespace {

// Where KVM on Intel keeps the three pages of its real-mode TSS: below the
// I/O APIC, outside guest RAM (guest_layout.h caps RAM at 3 GiB).
constexpr uint64_t kRealModeTssAddress = 0xfeffd000;

} // namespace

KvmFd& KvmFd::operator=(KvmFd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0)
            close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

KvmFd::~KvmFd() {
    if (fd_ >= 0)
        close(fd_);
}

int kvm_ioctl(int fd, unsigned long request, const void* argument, const char* what) {
    int r;
    do {
        r = ioctl(fd, request, const_cast<void*>(argument));
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        throw Error(std::string("KVM: ") + what, errno_text(errno));
    return r;
}

int kvm_ioctl(int fd, unsigned long request, unsigned long argument, const char* what) {
    int r;
    do {
        r = ioctl(fd, request, argument);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        throw Error(std::string("KVM: ") + what, errno_text(errno));
    return r;
}

KvmVcpu::KvmVcpu(KvmFd fd, size_t run_size) : fd_(std::move(fd)), run_size_(run_size) {
    void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED)
        throw Error("KVM: mapping the vCPU's run page", errno_text(errno));
    run_ = static_cast<kvm_run*>(p);
}

KvmVcpu::~KvmVcpu() {
    if (run_)
        munmap(run_, run_size_);
}

void KvmVcpu::set_cpuid(const CpuidTable& table, uint32_t vcpu_id) {
    // kvm_cpuid2 is an 8-byte header (count, padding) and the entries.
    // Built by hand: in C++ the uapi header's flexible-array wrapper adds a
    // byte before the array and so moves it.
    std::vector<kvm_cpuid_entry2> entries;
    for (const CpuidEntry& e : table.entries) {
        CpuidEntry answer = table.lookup(e.leaf, e.subleaf, vcpu_id);
        kvm_cpuid_entry2 k{};
        k.function = e.leaf;
        k.index = e.indexed ? e.subleaf : 0;
        k.flags = e.indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
        k.eax = answer.eax;
        k.ebx = answer.ebx;
        k.ecx = answer.ecx;
        k.edx = answer.edx;
        entries.push_back(k);
    }
    std::vector<uint8_t> buffer = kvm_array_buffer(entries);
    kvm_ioctl(fd(), kKvmSetCpuid2, buffer.data(),
              "setting the vCPU's CPUID table (KVM_SET_CPUID2)");
}

KvmVm::KvmVm(const std::string& device) {
    int kvm = open(device.c_str(), O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        throw Error("KVM: opening " + device, errno_text(errno));
    kvm_ = KvmFd(kvm);
    int version = kvm_ioctl(kvm, KVM_GET_API_VERSION, 0ul, "reading the API version");
    if (version != KVM_API_VERSION)
        throw Error("KVM: " + device, "API version " + std::to_string(version) + ", krr needs " +
                                          std::to_string(KVM_API_VERSION));
    // Without these the backend cannot keep interrupts in user space or
    // move the guest's state in and out.
    struct Needed {
        long capability;
        const char* name;
    };
    for (Needed n : {Needed{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
                     Needed{KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
                     Needed{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
                     Needed{KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
                     Needed{KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS"},
                     Needed{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"}}) {
        if (ioctl(kvm, KVM_CHECK_EXTENSION, n.capability) <= 0)
            throw Error("KVM: " + device, std::string("lacks ") + n.name);
    }
    run_size_ = size_t(
        kvm_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0ul, "reading the size of the vCPU run page"));
    vm_ = KvmFd(kvm_ioctl(kvm, KVM_CREATE_VM, 0ul, "creating a VM"));
    kvm_ioctl(vm_.get(), KVM_SET_TSS_ADDR, kRealModeTssAddress, "placing the real-mode TSS");
}

std::optional<std::string> KvmVm::unavailable_reason(const std::string& device) {
    try {
        KvmVm probe(device);
        return std::nullopt;
    } catch (const Error& e) {
        return std::string(e.what());
    }
}

void KvmVm::map_memory(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                       bool log_dirty_pages) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = log_dirty_pages ? KVM_MEM_LOG_DIRTY_PAGES : 0;
    region.guest_phys_addr = gpa;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(host);
    kvm_ioctl(vm_.get(), KVM_SET_USER_MEMORY_REGION, &region, "mapping guest memory");
}

std::unique_ptr<KvmVcpu> KvmVm::create_vcpu(uint32_t id) {
    KvmFd fd(
        kvm_ioctl(vm_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id), "creating a vCPU"));
    return std::make_unique<KvmVcpu>(std::move(fd), run_size_);
}

std::vector<uint64_t> KvmVm::take_dirty_pages(uint32_t slot, uint64_t pages) {
    std::vector<uint64_t> bitmap((pages + 63) / 64);
    kvm_dirty_log log{};
    log.slot = slot;
    log.dirty_bitmap = bitmap.data();
    kvm_ioctl(vm_.get(), KVM_GET_DIRTY_LOG, &log, "reading the dirty page log");
    std::vector<uint64_t> dirty;
    for (size_t word = 0; word < bitmap.size(); ++word) {
        for (uint64_t bits = bitmap[word]; bits; bits &= bits - 1) {
            dirty.push_back(word * 64 + uint64_t(__builtin_ctzll(bits)));
        }
    }
    return dirty;
}

void KvmVm::trap_msr_accesses(const std::vector<uint32_t>& msrs) {
    if (msrs.size() > KVM_MSR_FILTER_MAX_RANGES)
        throw Error("KVM: trapping the guest's MSR accesses", "too many MSRs");
    if (ioctl(kvm_.get(), KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) <= 0)
        throw Error("KVM: trapping the guest's MSR accesses", "KVM_CAP_X86_MSR_FILTER is missing");
    if (!user_space_msrs_) {
        kvm_enable_cap cap{};
        cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
        cap.args[0] = KVM_MSR_EXIT_REASON_FILTER;
        kvm_ioctl(vm_.get(), KVM_ENABLE_CAP, &cap, "sending filtered MSR accesses to user space");
        user_space_msrs_ = true;
    }
    // One range per MSR, its bit clear: denied to KVM, so it exits to user
    // space. KVM copies the bitmaps.
    uint8_t denied = 0;
    kvm_msr_filter filter{};
    filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
    for (size_t i = 0; i < msrs.size(); ++i) {
        filter.ranges[i].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
        filter.ranges[i].nmsrs = 1;
        filter.ranges[i].base = msrs[i];
        filter.ranges[i].bitmap = &denied;
    }
    kvm_ioctl(vm_.get(), KVM_X86_SET_MSR_FILTER, &filter, "setting the MSR filter");
}

bool kvm_is_pvm() {
    return access("/sys/module/kvm_pvm", F_OK) == 0;
}

bool KvmVcpu::set_tsc_khz(uint32_t khz) {
    return ioctl(fd(), KVM_SET_TSC_KHZ, static_cast<unsigned long>(khz)) == 0;
}

} // namespace krr
