#include "guest-model/control_device_protocol.h"
#include "machine_fixture.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using krr::Machine;

TEST_CASE("the control device answers the magic and reports init's messages") {
    std::vector<krr::ControlEvent> events;
    krr::MachineEvents handlers;
    handlers.control = [&](const krr::ControlEvent& e) { events.push_back(e); };
    Machine m(krr::test::small_machine_config(), handlers);
    CHECK(m.io_read(0, 0x7e0, 4) == 0x3152524b);
    m.io_write(0, 0x7e0, 4, 1u << 24);
    m.io_write(0, 0x7e0, 4, (2u << 24) | 0x100 | 9); // killed by SIGKILL
    m.io_write(0, 0x7e0, 4, 3u << 24);
    m.io_write(0, 0x7e0, 4, (4u << 24) | 3);
    REQUIRE(events.size() == 4);
    CHECK(events[0].kind == krr::ControlEvent::Kind::CommandStarts);
    CHECK(events[1].kind == krr::ControlEvent::Kind::ExitStatus);
    CHECK(events[1].killed_by_signal());
    CHECK(events[1].status_or_signal() == 9);
    CHECK(events[2].kind == krr::ControlEvent::Kind::PowerOff);
    CHECK(events[3].kind == krr::ControlEvent::Kind::InitFailed);
    CHECK(events[3].argument == 3);
}

TEST_CASE("absent devices read all ones; unknown ports are logged once at debug level") {
    std::vector<std::string> log;
    krr::MachineConfig config = krr::test::small_machine_config();
    config.log_level = krr::LogLevel::Debug;
    krr::MachineEvents handlers;
    handlers.log = [&](krr::LogLevel, std::string_view text) { log.emplace_back(text); };
    Machine m(config, handlers);
    CHECK(m.io_read(0, 0x64, 1) == 0xff);  // i8042 status
    CHECK(m.io_read(0, 0x2f9, 1) == 0xff); // COM2 IER
    CHECK(m.io_read(0, 0x3e9, 1) == 0xff);
    CHECK(m.io_read(0, 0x2e9, 1) == 0xff);
    CHECK(log.empty());
    CHECK(m.io_read(0, 0x1234, 2) == 0xffff);
    CHECK(m.io_read(0, 0x1234, 4) == 0xffffffff);
    m.io_write(0, 0x1234, 1, 0);
    CHECK(log.size() == 1);
    CHECK(m.mmio_read(0, 0xd0000000, 8) == ~uint64_t(0));
    CHECK(log.size() == 2);
}

TEST_CASE("the COM1 console reaches the console callback") {
    std::string console;
    krr::MachineEvents handlers;
    handlers.console_output = [&](uint8_t b) { console.push_back(char(b)); };
    Machine m(krr::test::small_machine_config(), handlers);
    for (char c : std::string("Linux version"))
        m.io_write(0, 0x3f8, 1, uint8_t(c));
    CHECK(console == "Linux version");
}

TEST_CASE("no timer runs at reset; a halted vCPU can skip to the first one that is started") {
    Machine m(krr::test::small_machine_config(), {});
    CHECK_FALSE(m.next_timer_deadline().has_value());
    m.mmio_write(0, 0xfee000f0, 4, 0x1ff);
    m.mmio_write(0, 0xfee003e0, 4, 0xb);   // divide by 1
    m.mmio_write(0, 0xfee00320, 4, 0xec);  // one-shot
    m.mmio_write(0, 0xfee00380, 4, 40000); // 40 us = 10000 instructions
    REQUIRE(m.next_timer_deadline() == 10000);
    m.advance_clock(0, 9999);
    CHECK_FALSE(m.pending_interrupt(0, true).has_value());
    m.advance_clock(0, 10000);
    CHECK(m.pending_interrupt(0, true) == 0xec);
}

TEST_CASE("machine configurations that cannot work are errors") {
    krr::MachineConfig config = krr::test::small_machine_config();
    config.vcpus = 0;
    CHECK_THROWS_AS(Machine(config, {}), krr::Error);
    config.vcpus = 16;
    CHECK_THROWS_AS(Machine(config, {}), krr::Error);
    config = krr::test::small_machine_config();
    config.kernel_path = "/nonexistent/vmlinuz";
    CHECK_THROWS_AS(Machine(config, {}), krr::Error);
}
