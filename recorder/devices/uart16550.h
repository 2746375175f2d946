// A 16550A UART (the COM1 at 0x3f8, IRQ 4 on the PC): what the kernel's 8250
// driver needs to identify a 16550A and use it as the console.
//
// Transmission is instantaneous: a byte written to THR goes to the console
// sink at once (or, in loopback mode, into the receive FIFO), so THR and the
// transmitter are always empty and THRE re-arms right after each write.
// Received bytes come from a host queue and move into the receive FIFO (16
// bytes with FIFOs on, 1 without) as the guest reads them; host input never
// overruns, loopback can (the kernel's size_fifo() counts on it). The
// interrupt output reaches the bus only while MCR.OUT2 is set and loopback
// is off, as on PC serial ports. Not modelled: baud-rate timing, the
// character timeout interrupt (data available is reported instead), FIFO
// trigger levels, line errors other than overrun.
#pragma once

#include "guest-model/byte_codec.h"
#include "recorder/devices/interrupt_line.h"
#include "recorder/machine/bus_device.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <span>

namespace krr {

class Uart16550 final : public BusDevice {
public:
    using Output = std::function<void(uint8_t)>;

    Uart16550(InterruptLine irq, Output output);

    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, unsigned size, uint64_t value) override;

    // Console input from the host, received in order.
    void receive(std::span<const uint8_t> bytes);
    size_t input_waiting() const { return input_.size() + rx_fifo_.size(); }

    bool interrupt_asserted() const { return irq_level_; }

    // Snapshot state (a trace's DEVICE_STATE); load_state throws krr::Error
    // on a malformed encoding and leaves the model unusable only then.
    void save_state(ByteWriter& out) const;
    void load_state(ByteReader& in);

private:
    uint8_t interrupt_identification() const;
    uint8_t modem_status_inputs() const;
    void set_modem_control(uint8_t value);
    void transmit(uint8_t byte);
    void refill_rx_fifo();
    size_t rx_fifo_capacity() const;
    void update_irq();

    InterruptLine irq_;
    Output output_;
    bool irq_level_ = false;

    uint8_t ier_ = 0;
    uint8_t lcr_ = 0;
    uint8_t mcr_ = 0;
    uint8_t lsr_errors_ = 0; // overrun, cleared by reading LSR
    uint8_t msr_deltas_ = 0; // delta bits, cleared by reading MSR
    uint8_t scratch_ = 0;
    uint8_t fcr_ = 0;       // as last written (trigger level kept for reads of state)
    uint16_t divisor_ = 12; // 9600 baud
    bool thr_interrupt_ = false;
    std::deque<uint8_t> rx_fifo_;
    std::deque<uint8_t> input_;
};

} // namespace krr
