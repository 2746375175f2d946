// A vCPU's architectural state moved between krr's CpuState and KVM, both
// ways, so a machine can boot in the emulator and continue under KVM (and
// come back). docs/kvm.md lists what maps to what.
//
// Three things KVM holds differently from CpuState:
//  - The TSC: KVM keeps the guest's TSC value, krr keeps the offset from
//    the virtual clock. Both directions take the virtual clock's TSC at the
//    moment of transfer. (The nested KVM here ignores writes of the TSC:
//    its guests read the host's TSC; docs/kvm.md.)
//  - HLT: without an in-kernel local APIC KVM refuses any multiprocessor
//    state but RUNNABLE and always exits to user space on HLT, so a halted
//    vCPU is the KVM backend's own state, not KVM's; events.halted is left
//    alone by write_kvm_state and read back as 0.
//  - The interrupt shadow: one flag in CpuState, two kinds in KVM (after
//    STI, after MOV SS). VMX refuses "blocked by STI" with IF clear, so the
//    shadow goes in as STI blocking when IF is set and MOV SS blocking
//    otherwise; either reads back as 1.
// KVM (on VMX) also keeps only the "unusable" bit of a segment marked
// unusable or not present: its other attributes read back as zero.
#pragma once

#include "guest-model/machine_state.h"
#include "recorder/accel/kvm_vm.h"

#include <cstdint>
#include <linux/kvm.h>
#include <vector>

namespace krr {

// Everything KVM_GET/SET_* exchange for one vCPU's state.
struct KvmCpuRegisters {
    kvm_regs regs{};
    kvm_sregs sregs{};
    // x87 and SSE state as XSAVE's legacy area and header. Not kvm_fpu: its
    // KVM_GET/SET_FPU ignore MXCSR on the kernels here (it reads back 0).
    KvmXsaveArea xsave{};
    kvm_debugregs debug{};
    kvm_vcpu_events events{};
    std::vector<kvm_msr_entry> msrs;
};

// The MSRs carried in KvmCpuRegisters::msrs, in order. EFER and the APIC
// base travel in kvm_sregs, FS and GS bases in their segments.
const std::vector<uint32_t>& kvm_transferred_msrs();

// `virtual_tsc`: the virtual clock's TSC now (guest TSC = it + tsc_offset).
KvmCpuRegisters to_kvm(const CpuState& cpu, uint64_t virtual_tsc);
CpuState from_kvm(const KvmCpuRegisters& kvm, uint64_t virtual_tsc);

// KVM's structures as they are, without conversion.
void write_kvm_registers(int vcpu_fd, const KvmCpuRegisters& kvm);
KvmCpuRegisters read_kvm_registers(int vcpu_fd);

// True while KVM is delivering an event (an exception, interrupt or NMI
// injected or pending, not yet in the guest's state): CpuState has no place
// for one, so the state cannot be read out then.
bool event_in_flight(const kvm_vcpu_events& events);
bool event_in_flight(int vcpu_fd);

// Load `cpu` into the vCPU / read it back (krr::Error on a refused value).
// Reading fails when KVM holds an event CpuState cannot carry (an injected
// interrupt or exception not delivered yet): complete the entry first.
void write_kvm_state(int vcpu_fd, const CpuState& cpu, uint64_t virtual_tsc);
CpuState read_kvm_state(int vcpu_fd, uint64_t virtual_tsc);

} // namespace krr
