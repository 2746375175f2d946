#include "recorder/devices/uart16550.h"

#include "recorder/devices/device_state_codec.h"

namespace krr {

namespace {

enum Offset : uint64_t {
    kData = 0,            // RBR / THR, or DLL with DLAB
    kInterruptEnable = 1, // IER, or DLM with DLAB
    kInterruptId = 2,     // IIR on read, FCR on write
    kLineControl = 3,
    kModemControl = 4,
    kLineStatus = 5,
    kModemStatus = 6,
    kScratch = 7,
};

constexpr uint8_t kIerRxData = 0x01;
constexpr uint8_t kIerThrEmpty = 0x02;
constexpr uint8_t kIerLineStatus = 0x04;
constexpr uint8_t kIerModemStatus = 0x08;

constexpr uint8_t kIirNoInterrupt = 0x01;
constexpr uint8_t kIirModemStatus = 0x00;
constexpr uint8_t kIirThrEmpty = 0x02;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirLineStatus = 0x06;
constexpr uint8_t kIirFifosEnabled = 0xc0;

constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;

constexpr uint8_t kLcrDlab = 0x80;

constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrWritable = 0x1f;

constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrOverrun = 0x02;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrTransmitterEmpty = 0x40;

constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;

} // namespace

Uart16550::Uart16550(InterruptLine irq, Output output)
    : irq_(std::move(irq)), output_(std::move(output)) {}

size_t Uart16550::rx_fifo_capacity() const {
    return (fcr_ & kFcrEnable) ? 16 : 1;
}

// The modem inputs: in loopback they are the MCR outputs fed back; outside
// it a terminal is attached with its carrier, DSR and CTS up.
uint8_t Uart16550::modem_status_inputs() const {
    if (!(mcr_ & kMcrLoop))
        return kMsrDcd | kMsrDsr | kMsrCts;
    uint8_t status = 0;
    if (mcr_ & kMcrRts)
        status |= kMsrCts;
    if (mcr_ & kMcrDtr)
        status |= kMsrDsr;
    if (mcr_ & kMcrOut1)
        status |= kMsrRi;
    if (mcr_ & kMcrOut2)
        status |= kMsrDcd;
    return status;
}

uint8_t Uart16550::interrupt_identification() const {
    uint8_t id = kIirNoInterrupt;
    if ((ier_ & kIerLineStatus) && lsr_errors_)
        id = kIirLineStatus;
    else if ((ier_ & kIerRxData) && !rx_fifo_.empty())
        id = kIirRxData;
    else if ((ier_ & kIerThrEmpty) && thr_interrupt_)
        id = kIirThrEmpty;
    else if ((ier_ & kIerModemStatus) && msr_deltas_)
        id = kIirModemStatus;
    if (fcr_ & kFcrEnable)
        id |= kIirFifosEnabled;
    return id;
}

void Uart16550::update_irq() {
    bool pending = !(interrupt_identification() & kIirNoInterrupt);
    bool level = pending && (mcr_ & kMcrOut2) && !(mcr_ & kMcrLoop);
    if (level == irq_level_)
        return;
    irq_level_ = level;
    if (irq_)
        irq_(level);
}

void Uart16550::refill_rx_fifo() {
    while (!input_.empty() && rx_fifo_.size() < rx_fifo_capacity()) {
        rx_fifo_.push_back(input_.front());
        input_.pop_front();
    }
}

void Uart16550::receive(std::span<const uint8_t> bytes) {
    input_.insert(input_.end(), bytes.begin(), bytes.end());
    if (!(mcr_ & kMcrLoop))
        refill_rx_fifo();
    update_irq();
}

void Uart16550::transmit(uint8_t byte) {
    if (mcr_ & kMcrLoop) {
        if (rx_fifo_.size() < rx_fifo_capacity())
            rx_fifo_.push_back(byte);
        else
            lsr_errors_ |= kLsrOverrun;
    } else if (output_) {
        output_(byte);
    }
    thr_interrupt_ = true;
}

void Uart16550::set_modem_control(uint8_t value) {
    uint8_t before = modem_status_inputs();
    bool was_loopback = mcr_ & kMcrLoop;
    mcr_ = value & kMcrWritable;
    uint8_t after = modem_status_inputs();
    uint8_t changed = before ^ after;
    // Delta bits: CTS, DSR and DCD on any change; RI on its trailing edge.
    msr_deltas_ |= uint8_t((changed & (kMsrCts | kMsrDsr | kMsrDcd)) >> 4);
    if ((before & kMsrRi) && !(after & kMsrRi))
        msr_deltas_ |= 0x04;
    if (was_loopback && !(mcr_ & kMcrLoop))
        refill_rx_fifo();
}

uint64_t Uart16550::read(uint64_t offset, unsigned) {
    uint8_t value = 0xff;
    switch (offset) {
    case kData:
        if (lcr_ & kLcrDlab) {
            value = uint8_t(divisor_);
            break;
        }
        value = 0;
        if (!rx_fifo_.empty()) {
            value = rx_fifo_.front();
            rx_fifo_.pop_front();
        }
        if (!(mcr_ & kMcrLoop))
            refill_rx_fifo();
        break;
    case kInterruptEnable:
        value = (lcr_ & kLcrDlab) ? uint8_t(divisor_ >> 8) : ier_;
        break;
    case kInterruptId:
        value = interrupt_identification();
        // Reading IIR while it reports THRE is what acknowledges THRE.
        if ((value & 0x0f) == kIirThrEmpty)
            thr_interrupt_ = false;
        break;
    case kLineControl:
        value = lcr_;
        break;
    case kModemControl:
        value = mcr_;
        break;
    case kLineStatus:
        value = uint8_t(kLsrThrEmpty | kLsrTransmitterEmpty | lsr_errors_ |
                        (rx_fifo_.empty() ? 0 : kLsrDataReady));
        lsr_errors_ = 0;
        break;
    case kModemStatus:
        value = uint8_t(modem_status_inputs() | msr_deltas_);
        msr_deltas_ = 0;
        break;
    case kScratch:
        value = scratch_;
        break;
    default:
        break;
    }
    update_irq();
    return value;
}

void Uart16550::write(uint64_t offset, unsigned, uint64_t value64) {
    uint8_t value = uint8_t(value64);
    switch (offset) {
    case kData:
        if (lcr_ & kLcrDlab)
            divisor_ = uint16_t((divisor_ & 0xff00) | value);
        else
            transmit(value);
        break;
    case kInterruptEnable:
        if (lcr_ & kLcrDlab) {
            divisor_ = uint16_t((divisor_ & 0x00ff) | (value << 8));
            break;
        }
        // Enabling THRE with the holding register empty raises it at once;
        // the 8250 driver's UART_BUG_THRE and TXEN checks rely on that.
        if ((value & kIerThrEmpty) && !(ier_ & kIerThrEmpty))
            thr_interrupt_ = true;
        if (!(value & kIerThrEmpty))
            thr_interrupt_ = false;
        ier_ = value & 0x0f;
        break;
    case kInterruptId: { // FCR
        bool was_enabled = fcr_ & kFcrEnable;
        fcr_ = value & 0xc9;
        // Turning the FIFOs on or off empties them, as does the clear bit.
        if (was_enabled != bool(fcr_ & kFcrEnable) || (value & kFcrClearRx))
            rx_fifo_.clear();
        if (!(mcr_ & kMcrLoop))
            refill_rx_fifo();
        break;
    }
    case kLineControl:
        lcr_ = value;
        break;
    case kModemControl:
        set_modem_control(value);
        break;
    case kScratch:
        scratch_ = value;
        break;
    default: // LSR and MSR are read-only
        break;
    }
    update_irq();
}

void Uart16550::save_state(ByteWriter& out) const {
    out.u8(1);
    put_flag(out, irq_level_);
    for (uint8_t v : {ier_, lcr_, mcr_, lsr_errors_, msr_deltas_, scratch_, fcr_})
        out.u8(v);
    out.u16(divisor_);
    put_flag(out, thr_interrupt_);
    for (const std::deque<uint8_t>* queue : {&rx_fifo_, &input_}) {
        out.varint(queue->size());
        for (uint8_t byte : *queue)
            out.u8(byte);
    }
}

void Uart16550::load_state(ByteReader& in) {
    expect_version(in, 1);
    irq_level_ = get_flag(in);
    ier_ = in.u8() & 0x0f;
    lcr_ = in.u8();
    mcr_ = in.u8() & kMcrWritable;
    lsr_errors_ = in.u8() & kLsrOverrun;
    msr_deltas_ = in.u8() & 0x0f;
    scratch_ = in.u8();
    fcr_ = in.u8() & 0xc9;
    divisor_ = in.u16();
    thr_interrupt_ = get_flag(in);
    for (std::deque<uint8_t>* queue : {&rx_fifo_, &input_}) {
        uint64_t n = in.count(1);
        queue->clear();
        for (uint64_t i = 0; i < n; ++i)
            queue->push_back(in.u8());
    }
    if (rx_fifo_.size() > rx_fifo_capacity())
        in.fail("receive FIFO holds " + std::to_string(rx_fifo_.size()) + " bytes");
}

} // namespace krr
