// The 8250 driver's view of the UART. The probe below follows autoconfig()
// and serial8250_do_startup() in Linux 6.1's drivers/tty/serial/8250/
// 8250_port.c step by step, written from the kernel source, not from the
// model.
#include "recorder/devices/uart16550.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using krr::Uart16550;

namespace {

// Register offsets and bits from include/uapi/linux/serial_reg.h.
constexpr unsigned RX = 0, TX = 0, IER = 1, IIR = 2, FCR = 2, EFR = 2, LCR = 3, MCR = 4, LSR = 5,
                   MSR = 6, SCR = 7;
constexpr uint8_t LCR_CONF_MODE_B = 0xbf, FCR_ENABLE_FIFO = 0x01, MCR_LOOP = 0x10, MCR_OUT2 = 0x08,
                  IER_THRI = 0x02, IER_RDI = 0x01, IIR_NO_INT = 0x01, LSR_TEMT = 0x40,
                  LSR_THRE = 0x20, LSR_DR = 0x01, IER_UUE = 0x40;

struct Port {
    Uart16550& uart;
    uint8_t in(unsigned reg) { return uint8_t(uart.read(reg, 1)); }
    void out(unsigned reg, uint8_t value) { uart.write(reg, 1, value); }
};

enum class UartType { None, LoopFailed, Uart8250, Unknown, Uart16550, Uart16550A };

// autoconfig(): IER existence test, loopback test, then the IIR FIFO bits.
UartType autoconfig(Port p) {
    uint8_t scratch = p.in(IER);
    p.out(IER, 0);
    uint8_t scratch2 = p.in(IER)&0x0f;
    p.out(IER, 0x0f);
    uint8_t scratch3 = p.in(IER)&0x0f;
    p.out(IER, scratch);
    if (scratch2 != 0 || scratch3 != 0x0f)
        return UartType::None;

    uint8_t save_mcr = p.in(MCR);
    uint8_t save_lcr = p.in(LCR);
    p.out(MCR, MCR_LOOP | 0x0a);
    uint8_t status1 = p.in(MSR)&0xf0;
    p.out(MCR, save_mcr);
    if (status1 != 0x90)
        return UartType::LoopFailed;

    p.out(LCR, LCR_CONF_MODE_B);
    p.out(EFR, 0);
    p.out(LCR, 0);
    p.out(FCR, FCR_ENABLE_FIFO);
    uint8_t iir = p.in(IIR);
    UartType type = UartType::Unknown;
    switch (iir >> 6) {
    case 0:
        type = UartType::Uart8250;
        break;
    case 2:
        type = UartType::Uart16550;
        break;
    case 3:
        type = UartType::Uart16550A;
        break;
    default:
        break;
    }
    p.out(LCR, save_lcr);
    // Reset: MCR back, FIFOs cleared, RX read, IER cleared.
    p.out(MCR, save_mcr);
    p.out(FCR, FCR_ENABLE_FIFO);
    p.out(FCR, FCR_ENABLE_FIFO | 0x06);
    p.out(FCR, 0);
    p.in(RX);
    p.out(IER, 0);
    return type;
}

} // namespace

TEST_CASE("the 8250 driver's autoconfig() identifies a 16550A") {
    Uart16550 uart({}, {});
    CHECK(autoconfig(Port{uart}) == UartType::Uart16550A);
}

TEST_CASE("autoconfig_16550a's further probes do not mistake it for another chip") {
    Uart16550 uart({}, {});
    Port p{uart};
    REQUIRE(autoconfig(p) == UartType::Uart16550A);
    // With DLAB set, offset 2 reads IIR, never 0, so no EFR is found.
    p.out(LCR, 0x80);
    CHECK(p.in(EFR) != 0);
    p.out(LCR, LCR_CONF_MODE_B);
    CHECK(p.in(EFR) != 0);
    // 16750 test: 64-byte FIFO enable must not show in IIR bit 5.
    p.out(LCR, 0);
    p.out(FCR, FCR_ENABLE_FIFO | 0x20);
    uint8_t status1 = p.in(IIR) >> 5;
    p.out(FCR, FCR_ENABLE_FIFO);
    p.out(LCR, 0x80);
    p.out(FCR, FCR_ENABLE_FIFO | 0x20);
    uint8_t status2 = p.in(IIR) >> 5;
    p.out(FCR, FCR_ENABLE_FIFO);
    p.out(LCR, 0);
    CHECK_FALSE((status1 == 6 && status2 == 7));
    // Xscale test: IER bit 6 (UUE) must not stick.
    uint8_t iersave = p.in(IER);
    p.out(IER, iersave | IER_UUE);
    CHECK_FALSE((p.in(IER)&IER_UUE));
    p.out(IER, iersave);
}

TEST_CASE("size_fifo() counts 16 bytes through loopback") {
    Uart16550 uart({}, {});
    Port p{uart};
    p.out(LCR, 0);
    p.out(FCR, FCR_ENABLE_FIFO | 0x06);
    p.out(MCR, MCR_LOOP);
    p.out(LCR, 0x80);
    p.out(0, 1);
    p.out(1, 0);
    p.out(LCR, 0x03);
    for (int i = 0; i < 256; ++i)
        p.out(TX, uint8_t(i));
    int count = 0;
    std::vector<uint8_t> got;
    for (; (p.in(LSR)&LSR_DR) && count < 256; ++count)
        got.push_back(p.in(RX));
    CHECK(count == 16);
    CHECK(got.front() == 0);
    CHECK(got.back() == 15);
}

TEST_CASE("serial8250_do_startup's THRE checks see a UART without the TXEN and THRE bugs") {
    Uart16550 uart({}, {});
    Port p{uart};
    REQUIRE(autoconfig(p) == UartType::Uart16550A);
    // UART_BUG_TXEN check.
    p.out(IER, IER_THRI);
    uint8_t lsr = p.in(LSR);
    uint8_t iir = p.in(IIR);
    p.out(IER, 0);
    CHECK((lsr & LSR_TEMT) != 0);
    CHECK_FALSE((iir & IIR_NO_INT));
    // UART_BUG_THRE check.
    p.out(IER, IER_THRI);
    uint8_t iir1 = p.in(IIR);
    p.out(IER, 0);
    p.out(IER, IER_THRI);
    iir = p.in(IIR);
    p.out(IER, 0);
    CHECK_FALSE((iir1 & IIR_NO_INT));
    CHECK_FALSE((iir & IIR_NO_INT));
}

TEST_CASE("transmitted bytes reach the console; received bytes raise the IRQ with OUT2") {
    std::string console;
    std::vector<bool> irq;
    Uart16550 uart([&](bool level) { irq.push_back(level); },
                   [&](uint8_t byte) { console.push_back(char(byte)); });
    Port p{uart};
    for (char c : std::string("hi\n")) {
        CHECK((p.in(LSR)&LSR_THRE) != 0);
        p.out(TX, uint8_t(c));
    }
    CHECK(console == "hi\n");

    p.out(IER, IER_RDI);
    const uint8_t input[] = {'a', 'b'};
    uart.receive(input);
    CHECK(irq.empty()); // OUT2 clear: the interrupt does not reach the bus
    p.out(MCR, MCR_OUT2);
    REQUIRE(irq.size() == 1);
    CHECK(irq.back() == true);
    CHECK((p.in(IIR)&0x0f) == 0x04);
    CHECK(p.in(RX) == 'a');
    CHECK(p.in(RX) == 'b');
    CHECK_FALSE((p.in(LSR)&LSR_DR));
    CHECK(irq.back() == false);
    CHECK((p.in(IIR)&IIR_NO_INT) != 0);
}

TEST_CASE("the scratch register and divisor latch hold their values") {
    Uart16550 uart({}, {});
    Port p{uart};
    p.out(SCR, 0x5a);
    CHECK(p.in(SCR) == 0x5a);
    p.out(LCR, 0x80);
    p.out(0, 0x01);
    p.out(1, 0x02);
    CHECK(p.in(0) == 0x01);
    CHECK(p.in(1) == 0x02);
    p.out(LCR, 0x03);
    CHECK(p.in(LCR) == 0x03);
}
