// The KVM objects the backend drives: /dev/kvm, one VM, its vCPUs. A VM
// here never gets an in-kernel irqchip or PIT: every interrupt comes from
// krr's own device models, so every delivery passes through the recorder
// (ARCHITECTURE.md, decision 2). Each handle owns its file descriptor.
#pragma once

#include "guest-model/cpuid_table.h"

#include <cstdint>
#include <cstring>
#include <linux/kvm.h>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace krr {

// A file descriptor closed with its owner.
class KvmFd {
public:
    KvmFd() = default;
    explicit KvmFd(int fd) : fd_(fd) {}
    KvmFd(KvmFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    KvmFd& operator=(KvmFd&& other) noexcept;
    KvmFd(const KvmFd&) = delete;
    KvmFd& operator=(const KvmFd&) = delete;
    ~KvmFd();
    int get() const { return fd_; }

private:
    int fd_ = -1;
};

// An ioctl that must succeed: its result, or krr::Error naming `what`.
int kvm_ioctl(int fd, unsigned long request, const void* argument, const char* what);
int kvm_ioctl(int fd, unsigned long request, unsigned long argument, const char* what);

// The argument of an ioctl taking a count and an array (kvm_msrs,
// kvm_cpuid2): a 32-bit count, 32 bits of padding, then the entries. Built
// by hand because in C++ the uapi headers' flexible-array wrapper puts a
// byte before the array and so moves it.
inline constexpr size_t kKvmArrayHeader = 8;
// The size of such a header is part of these ioctls' numbers, so the
// headers' KVM_SET_CPUID2, KVM_GET_MSRS and KVM_SET_MSRS (which take the
// C++ size, 12) are refused; these carry the kernel's size, 8.
struct KvmArrayHeader {
    uint32_t count;
    uint32_t padding;
};
inline constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, KvmArrayHeader);
inline constexpr unsigned long kKvmGetMsrs = _IOWR(KVMIO, 0x88, KvmArrayHeader);
inline constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, KvmArrayHeader);
// The same for kvm_xsave (4096 bytes in the kernel).
struct KvmXsaveArea {
    uint8_t bytes[4096];
};
inline constexpr unsigned long kKvmGetXsave = _IOR(KVMIO, 0xa4, KvmXsaveArea);
inline constexpr unsigned long kKvmSetXsave = _IOW(KVMIO, 0xa5, KvmXsaveArea);
template <typename Entry>
std::vector<uint8_t> kvm_array_buffer(const std::vector<Entry>& entries) {
    std::vector<uint8_t> buffer(kKvmArrayHeader + entries.size() * sizeof(Entry));
    uint32_t count = uint32_t(entries.size());
    std::memcpy(buffer.data(), &count, sizeof count);
    if (!entries.empty())
        std::memcpy(buffer.data() + kKvmArrayHeader, entries.data(),
                    entries.size() * sizeof(Entry));
    return buffer;
}
class KvmVcpu {
public:
    KvmVcpu(KvmFd fd, size_t run_size);
    KvmVcpu(const KvmVcpu&) = delete;
    KvmVcpu& operator=(const KvmVcpu&) = delete;
    ~KvmVcpu();

    int fd() const { return fd_.get(); }
    // The shared page KVM_RUN reports exits in.
    kvm_run& run() { return *run_; }

    // KVM_SET_CPUID2 with `table` as the vCPU `vcpu_id` answers it (its
    // initial APIC ID filled in). Must come before setting control
    // registers and MSRs whose validity KVM judges by CPUID (CR4.OSFXSR,
    // EFER.NXE/SCE/LME).
    void set_cpuid(const CpuidTable& table, uint32_t vcpu_id);
    // KVM_SET_TSC_KHZ: false when this KVM cannot scale the guest's TSC.
    bool set_tsc_khz(uint32_t khz);

private:
    KvmFd fd_;
    kvm_run* run_ = nullptr;
    size_t run_size_ = 0;
};

class KvmVm {
public:
    // Opens `device`, checks the API version and the capabilities the
    // backend relies on, creates the VM. Throws krr::Error when KVM is absent
    // or unusable, saying which.
    explicit KvmVm(const std::string& device = "/dev/kvm");
    KvmVm(const KvmVm&) = delete;
    KvmVm& operator=(const KvmVm&) = delete;

    // Why KVM cannot be used here, or nothing when it can (a VM is created
    // and dropped to find out).
    static std::optional<std::string> unavailable_reason(const std::string& device = "/dev/kvm");

    // Guest-physical [gpa, gpa + size) is host memory at `host` (page
    // aligned), as memory slot `slot`.
    void map_memory(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                    bool log_dirty_pages = false);
    // The pages of slot `slot` (`pages` of them, mapped with
    // log_dirty_pages) the guest or KVM wrote since the last call, as page
    // numbers within the slot, ascending (KVM_GET_DIRTY_LOG).
    std::vector<uint64_t> take_dirty_pages(uint32_t slot, uint64_t pages);
    std::unique_ptr<KvmVcpu> create_vcpu(uint32_t id);
    int fd() const { return vm_.get(); }

    // The guest's RDMSR and WRMSR of `msr` leave KVM_RUN with
    // KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR for user space to answer
    // (KVM_X86_SET_MSR_FILTER); other MSRs stay KVM's. KVM_GET/SET_MSRS
    // are not affected. A later call replaces the earlier list.
    void trap_msr_accesses(const std::vector<uint32_t>& msrs);

private:
    KvmFd kvm_;
    KvmFd vm_;
    size_t run_size_ = 0;
    bool user_space_msrs_ = false;
};

// Whether the host's KVM is PVM, the Pagetable-based Virtual Machine
// (kvm_pvm loaded): it runs guests at the underlying CPL 3 and does not
// complete a SYSCALL from the guest's user mode (docs/kvm.md).
bool kvm_is_pvm();

} // namespace krr
