// The machine: guest RAM, the vCPUs' states and the devices, wired as the
// minimal PC of ARCHITECTURE.md ("This machine"), with the kernel loaded
// for the 64-bit boot protocol. docs/machine.md describes it.
//
// The CPU loop is not here: it runs either in the emulator or in KVM, and
// calls in for everything a CPU cannot do alone. Its contract:
//  - advance_clock(vcpu, count) before each port or MMIO access and before
//    asking for interrupts, with the vCPU's instruction count (retired plus
//    skipped while halted); timers fire from there;
//  - io_read/io_write and mmio_read/mmio_write for every access outside RAM
//    (the local APIC window is per vCPU);
//  - pending_interrupt(vcpu, can_take) between instructions, and when it
//    delivers, acknowledge_interrupt(vcpu) for the vector to use;
//  - take_apic_requests(vcpu) for INIT, STARTUP and NMI;
//  - next_timer_deadline() when every vCPU is halted: the count to skip to.
// Time: each local APIC follows its own vCPU's count; the shared devices
// (PIT, RTC) follow the largest count any vCPU has reached, so with vCPUs run
// one at a time shared time never goes back.
//
// Not thread-safe: vCPUs are executed one at a time.
#pragma once

#include "guest-model/guest_memory.h"
#include "guest-model/machine_state.h"
#include "guest-model/trace/snapshot_codec.h"
#include "recorder/devices/apic_bus.h"
#include "recorder/devices/cmos_rtc.h"
#include "recorder/devices/control_device.h"
#include "recorder/devices/io_apic.h"
#include "recorder/devices/local_apic.h"
#include "recorder/devices/pic8259.h"
#include "recorder/devices/pit8254.h"
#include "recorder/devices/reset_control.h"
#include "recorder/devices/system_control_port.h"
#include "recorder/devices/uart16550.h"
#include "recorder/machine/bus.h"
#include "recorder/machine/e820_map.h"
#include "recorder/machine/linux_loader.h"
#include "recorder/machine/log.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace krr {

struct MachineConfig {
    uint64_t memory_bytes = 512ULL << 20;
    unsigned vcpus = 1;
    // Empty: no kernel is loaded (the devices and tables are still there).
    std::string kernel_path;
    std::vector<uint8_t> initrd;
    std::string command_line = "console=ttyS0 nokaslr tsc=unstable";
    // Boot through the bzImage's own decompressor instead of placing the
    // decompressed vmlinux directly (see load_linux).
    bool boot_through_decompressor = false;
    // Where decompressed kernels are cached; empty: no cache.
    std::string vmlinux_cache_dir;
    // What the RTC reads at the start, seconds since the Unix epoch; fixed
    // by default so that two runs of the same inputs read the same date.
    int64_t start_time = 1735689600; // 2025-01-01 00:00:00 UTC
    LogLevel log_level = LogLevel::Warning;
};

struct MachineEvents {
    std::function<void(uint8_t)> console_output;
    std::function<void(const ControlEvent&)> control;
    // The guest asked the machine to reset (keyboard controller or 0xCF9).
    std::function<void()> reset;
    // Where log messages go; empty for stderr.
    Log::Sink log;
};

class Machine {
public:
    static constexpr uint16_t kCom1Port = 0x3f8;
    static constexpr unsigned kCom1Irq = 4;
    static constexpr unsigned kRtcIrq = 8;

    // Builds and wires everything and, when config.kernel_path is set, loads
    // the kernel (krr::Error when anything does not fit or cannot be read).
    Machine(MachineConfig config, MachineEvents events);
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    const MachineConfig& config() const { return config_; }
    GuestMemory& memory() { return memory_; }
    unsigned vcpu_count() const { return unsigned(vcpus_.size()); }
    VcpuState& vcpu(unsigned index) { return vcpus_.at(index); }
    const std::vector<E820Entry>& e820() const { return e820_; }
    // Where the loader put things; all zero when no kernel was loaded.
    const LinuxBootLayout& boot_layout() const { return boot_layout_; }

    uint64_t io_read(unsigned vcpu, uint16_t port, unsigned size);
    void io_write(unsigned vcpu, uint16_t port, unsigned size, uint64_t value);
    uint64_t mmio_read(unsigned vcpu, uint64_t address, unsigned size);
    void mmio_write(unsigned vcpu, uint64_t address, unsigned size, uint64_t value);

    // The vector the vCPU would take now; `can_take` is RFLAGS.IF and no
    // interrupt shadow. ExtINT from the 8259 comes before the local APIC's
    // vectors, as the CPU's INTR pin does.
    std::optional<uint8_t> pending_interrupt(unsigned vcpu, bool can_take) const;
    // Delivers what pending_interrupt() reported: IRR to ISR in the local
    // APIC, or the 8259's INTA cycle. Throws krr::Error if nothing is pending.
    uint8_t acknowledge_interrupt(unsigned vcpu);
    ApicRequests take_apic_requests(unsigned vcpu);

    void advance_clock(unsigned vcpu, uint64_t instruction_count);
    // The smallest instruction count at which some timer fires, if any runs.
    std::optional<uint64_t> next_timer_deadline() const;
    // Shared virtual time in nanoseconds.
    uint64_t now() const { return now_; }

    void console_input(std::span<const uint8_t> bytes) { uart_.receive(bytes); }

    // Every device's state and the machine clock, one entry per device, for
    // a snapshot's DEVICE_STATE chunks. restore_devices() takes exactly the
    // set save_devices() gives for a machine of the same configuration and
    // throws krr::Error on anything else (a missing, repeated, unknown or
    // malformed entry).
    std::vector<trace::DeviceState> save_devices() const;
    void restore_devices(const std::vector<trace::DeviceState>& states);

    Log& log() { return log_; }
    Pit8254& pit() { return pit_; }
    LegacyPic& pic() { return pic_; }
    IoApic& io_apic() { return io_apic_; }
    LocalApic& local_apic(unsigned vcpu) { return *local_apics_.at(vcpu); }
    Uart16550& uart() { return uart_; }
    CmosRtc& rtc() { return rtc_; }

private:
    void set_isa_irq(unsigned irq, bool level);
    void map_devices();

    MachineConfig config_;
    MachineEvents events_;
    Log log_;
    std::vector<E820Entry> e820_; // before memory_: it validates the size
    GuestMemory memory_;
    std::vector<VcpuState> vcpus_;
    std::vector<uint64_t> vcpu_now_; // each vCPU's virtual time, ns
    LinuxBootLayout boot_layout_;
    uint64_t now_ = 0;

    IoBus io_bus_;
    MmioBus mmio_bus_;
    ApicBus apic_bus_;
    LegacyPic pic_;
    IoApic io_apic_;
    std::vector<std::unique_ptr<LocalApic>> local_apics_;
    Pit8254 pit_;
    SystemControlPort system_control_;
    Uart16550 uart_;
    CmosRtc rtc_;
    ControlDevice control_;
    KeyboardControllerReset keyboard_reset_;
    ResetControlRegister reset_control_;
    AbsentDevice absent_;
};

} // namespace krr
