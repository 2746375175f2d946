#include "recorder/machine/machine.h"

#include "guest-model/error.h"
#include "guest-model/kernel_image.h"
#include "recorder/machine/firmware_tables.h"
#include "recorder/machine/guest_layout.h"
#include "recorder/machine/mp_table.h"
#include "guest-model/virtual_clock.h"
#include "recorder/machine/vmlinux_cache.h"

#include <algorithm>
#include <map>

namespace krr {

namespace {

// I/O APIC IDs are four bits wide and must differ from the local APIC IDs
// 0..vcpus-1, which bounds the vCPU count.
constexpr unsigned kMaxVcpus = 15;
constexpr uint64_t kApBase = 0xfee00800; // APIC base MSR: enabled, not the BSP

unsigned checked_vcpus(unsigned vcpus) {
    if (vcpus == 0 || vcpus > kMaxVcpus)
        throw Error("configuring the machine", std::to_string(vcpus) + " vCPUs requested; 1 to " +
                                                   std::to_string(kMaxVcpus) + " are possible");
    return vcpus;
}

} // namespace

Machine::Machine(MachineConfig config, MachineEvents events)
    : config_(std::move(config)), events_(std::move(events)), log_(config_.log_level, events_.log),
      e820_(build_e820_map(config_.memory_bytes)), memory_(config_.memory_bytes), io_bus_(log_),
      mmio_bus_(log_),
      io_apic_(uint8_t(checked_vcpus(config_.vcpus)),
               [this](const ApicMessage& message) { apic_bus_.deliver(message, nullptr); }),
      pit_([this](bool level) { set_isa_irq(0, level); }), system_control_(pit_),
      uart_([this](bool level) { set_isa_irq(kCom1Irq, level); },
            [this](uint8_t byte) {
                if (events_.console_output)
                    events_.console_output(byte);
            }),
      rtc_(config_.start_time, [this](bool level) { set_isa_irq(kRtcIrq, level); }),
      control_(
          [this](const ControlEvent& event) {
              if (events_.control)
                  events_.control(event);
          },
          log_),
      keyboard_reset_([this] {
          if (events_.reset)
              events_.reset();
      }),
      reset_control_([this] {
          if (events_.reset)
              events_.reset();
      }) {
    for (unsigned i = 0; i < config_.vcpus; ++i) {
        VcpuState state;
        state.id = i;
        if (i != 0)
            state.cpu.msr.apic_base = kApBase;
        vcpus_.push_back(state);
        vcpu_now_.push_back(0);
        LocalApic::Wiring wiring;
        wiring.send = [this, i](const ApicMessage& message) {
            apic_bus_.deliver(message, local_apics_[i].get());
        };
        wiring.end_of_interrupt = [this](uint8_t vector) { apic_bus_.end_of_interrupt(vector); };
        local_apics_.push_back(std::make_unique<LocalApic>(uint8_t(i), std::move(wiring)));
        apic_bus_.attach(*local_apics_.back());
    }
    apic_bus_.attach(io_apic_);
    map_devices();

    MpTableConfig mp;
    mp.cpus = config_.vcpus;
    mp.io_apic_id = io_apic_.id();
    mp.io_apic_address = uint32_t(guest_layout::kIoApicBase);
    mp.local_apic_address = uint32_t(guest_layout::kLocalApicBase);
    install_firmware_tables(memory_, mp);

    if (!config_.kernel_path.empty()) {
        KernelImage kernel = KernelImage::load(config_.kernel_path);
        std::vector<uint8_t> vmlinux;
        if (!config_.boot_through_decompressor)
            vmlinux = decompressed_vmlinux(kernel, config_.vmlinux_cache_dir);
        LinuxBoot boot =
            load_linux(memory_, kernel, config_.initrd, config_.command_line, e820_, vmlinux);
        vcpus_[0].cpu = boot.cpu;
        boot_layout_ = boot.layout;
    }
}

void Machine::map_devices() {
    io_bus_.map(0x20, 2, pic_.master_ports(), "8259 PIC (master)", Bus::Width::Byte);
    io_bus_.map(0xa0, 2, pic_.slave_ports(), "8259 PIC (slave)", Bus::Width::Byte);
    io_bus_.map(0x40, 4, pit_, "8254 PIT", Bus::Width::Byte);
    io_bus_.map(0x61, 1, system_control_, "system control port B", Bus::Width::Byte);
    io_bus_.map(0x70, 2, rtc_, "CMOS RTC", Bus::Width::Byte);
    io_bus_.map(kCom1Port, 8, uart_, "16550A UART (COM1)", Bus::Width::Byte);
    io_bus_.map(KRR_CONTROL_PORT, KRR_CONTROL_PORT_COUNT, control_, "krr control device");
    // Probed by the kernel and absent here: an all-ones answer is what tells
    // the i8042 driver and the 8250 probe there is nothing to drive.
    io_bus_.map(0x60, 1, absent_, "i8042 data (absent)");
    io_bus_.map(0x64, 1, keyboard_reset_, "i8042 status (absent) / reset line", Bus::Width::Byte);
    io_bus_.map(0xcf9, 1, reset_control_, "reset control register", Bus::Width::Byte);
    io_bus_.map(0x80, 1, absent_, "POST diagnostic port");
    io_bus_.map(0x2f8, 8, absent_, "COM2 (absent)");
    io_bus_.map(0x3e8, 8, absent_, "COM3 (absent)");
    io_bus_.map(0x2e8, 8, absent_, "COM4 (absent)");
    mmio_bus_.map(guest_layout::kIoApicBase, IoApic::kWindowSize, io_apic_, "I/O APIC");
}

void Machine::set_isa_irq(unsigned irq, bool level) {
    pic_.set_irq(irq, level);
    if (auto pin = io_apic_pin_for_isa_irq(irq))
        io_apic_.set_irq(*pin, level);
}

uint64_t Machine::io_read(unsigned vcpu, uint16_t port, unsigned size) {
    (void)vcpu;
    return io_bus_.read(port, size);
}

void Machine::io_write(unsigned vcpu, uint16_t port, unsigned size, uint64_t value) {
    (void)vcpu;
    io_bus_.write(port, size, value);
}

uint64_t Machine::mmio_read(unsigned vcpu, uint64_t address, unsigned size) {
    uint64_t offset = address - guest_layout::kLocalApicBase;
    if (address >= guest_layout::kLocalApicBase && offset < LocalApic::kWindowSize) {
        uint64_t value = local_apic(vcpu).read(offset, size);
        return size >= 8 ? value : value & ((uint64_t(1) << (8 * size)) - 1);
    }
    return mmio_bus_.read(address, size);
}

void Machine::mmio_write(unsigned vcpu, uint64_t address, unsigned size, uint64_t value) {
    uint64_t offset = address - guest_layout::kLocalApicBase;
    if (address >= guest_layout::kLocalApicBase && offset < LocalApic::kWindowSize) {
        local_apic(vcpu).write(offset, size, value);
        return;
    }
    mmio_bus_.write(address, size, value);
}

std::optional<uint8_t> Machine::pending_interrupt(unsigned vcpu, bool can_take) const {
    if (!can_take)
        return std::nullopt;
    const LocalApic& apic = *local_apics_.at(vcpu);
    if (apic.extint_requested() || apic.lint0_passes_extint()) {
        if (auto vector = pic_.pending_vector())
            return vector;
    }
    return apic.pending_vector();
}

uint8_t Machine::acknowledge_interrupt(unsigned vcpu) {
    LocalApic& apic = local_apic(vcpu);
    if (apic.extint_requested() || apic.lint0_passes_extint()) {
        if (pic_.pending_vector()) {
            apic.acknowledge_extint();
            return pic_.acknowledge();
        }
    }
    if (apic.pending_vector())
        return apic.acknowledge();
    throw Error("acknowledging an interrupt on vCPU " + std::to_string(vcpu),
                "no interrupt is pending");
}

ApicRequests Machine::take_apic_requests(unsigned vcpu) {
    return local_apic(vcpu).take_requests();
}

void Machine::advance_clock(unsigned vcpu, uint64_t instruction_count) {
    uint64_t ns = VirtualClock::nanoseconds(instruction_count);
    uint64_t& mine = vcpu_now_.at(vcpu);
    mine = std::max(mine, ns);
    local_apic(vcpu).advance_to(mine);
    now_ = std::max(now_, ns);
    pit_.advance_to(now_);
    rtc_.advance_to(now_);
}

std::optional<uint64_t> Machine::next_timer_deadline() const {
    std::optional<uint64_t> earliest;
    auto consider = [&](std::optional<uint64_t> ns) {
        if (ns && (!earliest || *ns < *earliest))
            earliest = ns;
    };
    consider(pit_.next_deadline());
    consider(rtc_.next_deadline());
    for (const auto& apic : local_apics_)
        consider(apic->next_deadline());
    if (!earliest)
        return std::nullopt;
    return VirtualClock::first_instruction_at(*earliest);
}

namespace {

constexpr uint8_t kClockStateVersion = 1;

template <typename Device>
trace::DeviceState saved(std::string name, const Device& device) {
    ByteWriter out;
    device.save_state(out);
    return {std::move(name), out.take()};
}

} // namespace

std::vector<trace::DeviceState> Machine::save_devices() const {
    std::vector<trace::DeviceState> states;
    ByteWriter clock;
    clock.u8(kClockStateVersion);
    clock.u64(now_);
    clock.varint(vcpu_now_.size());
    for (uint64_t ns : vcpu_now_)
        clock.u64(ns);
    states.push_back({"clock", clock.take()});
    states.push_back(saved("pic", pic_));
    states.push_back(saved("ioapic", io_apic_));
    for (size_t i = 0; i < local_apics_.size(); ++i)
        states.push_back(saved("lapic" + std::to_string(i), *local_apics_[i]));
    states.push_back(saved("pit", pit_));
    states.push_back(saved("port61", system_control_));
    states.push_back(saved("com1", uart_));
    states.push_back(saved("rtc", rtc_));
    return states;
}

void Machine::restore_devices(const std::vector<trace::DeviceState>& states) {
    std::map<std::string, const trace::DeviceState*> by_name;
    for (const trace::DeviceState& state : states) {
        if (!by_name.emplace(state.name, &state).second)
            throw Error("restoring devices", "device state \"" + state.name + "\" appears twice");
    }
    auto take = [&](const std::string& name) {
        auto it = by_name.find(name);
        if (it == by_name.end())
            throw Error("restoring devices", "no state for device \"" + name + "\"");
        const trace::DeviceState* state = it->second;
        by_name.erase(it);
        return ByteReader(state->data, "state of device " + name);
    };
    auto restore = [&](const std::string& name, auto& device) {
        ByteReader in = take(name);
        device.load_state(in);
        in.expect_end();
    };

    ByteReader clock = take("clock");
    uint8_t version = clock.u8();
    if (version != kClockStateVersion)
        clock.fail("state version " + std::to_string(version));
    uint64_t now = clock.u64();
    uint64_t count = clock.count(8);
    if (count != vcpu_now_.size())
        clock.fail("clock state for " + std::to_string(count) + " vCPUs, the machine has " +
                   std::to_string(vcpu_now_.size()));
    std::vector<uint64_t> vcpu_now(count);
    for (uint64_t& ns : vcpu_now)
        ns = clock.u64();
    clock.expect_end();

    restore("pic", pic_);
    restore("ioapic", io_apic_);
    for (size_t i = 0; i < local_apics_.size(); ++i)
        restore("lapic" + std::to_string(i), *local_apics_[i]);
    restore("pit", pit_);
    restore("port61", system_control_);
    restore("com1", uart_);
    restore("rtc", rtc_);
    if (!by_name.empty())
        throw Error("restoring devices", "unknown device \"" + by_name.begin()->first + "\"");
    now_ = now;
    vcpu_now_ = vcpu_now;
}

} // namespace krr
