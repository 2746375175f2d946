#include "guest-model/error.h"
#include "recorder/machine/bus.h"

#include <doctest/doctest.h>
#include <utility>
#include <vector>

namespace {

struct Recorder final : krr::BusDevice {
    uint64_t last_offset = 0;
    unsigned last_size = 0;
    uint64_t read(uint64_t offset, unsigned size) override {
        last_offset = offset;
        last_size = size;
        return 0x1122334455667788ULL;
    }
    void write(uint64_t offset, unsigned size, uint64_t) override {
        last_offset = offset;
        last_size = size;
    }
};

} // namespace

TEST_CASE("a bus hands accesses to the device by offset and truncates reads to the size") {
    krr::Log log(krr::LogLevel::Error);
    krr::IoBus bus(log);
    Recorder device;
    bus.map(0x3f8, 8, device, "uart");
    CHECK(bus.read(0x3fb, 1) == 0x88);
    CHECK(device.last_offset == 3);
    CHECK(bus.read(0x3f8, 2) == 0x7788);
    bus.write(0x3ff, 4, 0);
    CHECK(device.last_offset == 7);
    CHECK(device.last_size == 4);
    CHECK(bus.device_name(0x3fc) == "uart");
    CHECK(bus.device_name(0x400) == "");
}

TEST_CASE("overlapping or out-of-range mappings and bad access sizes are errors") {
    krr::Log log(krr::LogLevel::Error);
    krr::IoBus bus(log);
    Recorder a, b;
    bus.map(0x40, 4, a, "pit");
    CHECK_THROWS_AS(bus.map(0x43, 1, b, "x"), krr::Error);
    CHECK_THROWS_AS(bus.map(0x3c, 5, b, "x"), krr::Error);
    CHECK_THROWS_AS(bus.map(0xffff, 2, b, "x"), krr::Error);
    CHECK_THROWS_AS(bus.map(0x50, 0, b, "x"), krr::Error);
    bus.map(0x44, 1, b, "adjacent");
    CHECK_THROWS_AS(bus.read(0x40, 8), krr::Error);
    CHECK_THROWS_AS(bus.read(0x40, 3), krr::Error);
}

TEST_CASE("a wide access to a byte-wide device becomes byte accesses at ascending addresses") {
    struct Bytes final : krr::BusDevice {
        std::vector<std::pair<uint64_t, uint64_t>> writes;
        uint64_t read(uint64_t offset, unsigned size) override {
            CHECK(size == 1);
            return 0x10 + offset;
        }
        void write(uint64_t offset, unsigned size, uint64_t value) override {
            CHECK(size == 1);
            writes.push_back({offset, value});
        }
    };
    krr::Log log(krr::LogLevel::Error);
    krr::IoBus bus(log);
    Bytes device;
    bus.map(0x70, 2, device, "rtc", krr::Bus::Width::Byte);
    CHECK(bus.read(0x70, 2) == 0x1110);
    CHECK(bus.read(0x71, 2) == 0xff11); // the second byte is unmapped
    bus.write(0x70, 2, 0xab0c);
    REQUIRE(device.writes.size() == 2);
    CHECK(device.writes[0] == std::pair<uint64_t, uint64_t>{0, 0x0c});
    CHECK(device.writes[1] == std::pair<uint64_t, uint64_t>{1, 0xab});
}
