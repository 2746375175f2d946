#include "guest-model/byte_codec.h"
#include "guest-model/error.h"

#include <doctest/doctest.h>

using krr::ByteReader;
using krr::ByteWriter;

TEST_CASE("byte codec round-trips every width and varint boundaries") {
    ByteWriter w;
    w.u8(0xab);
    w.u16(0xbeef);
    w.u32(0xdeadbeef);
    w.u64(0x0123456789abcdefULL);
    const uint64_t varints[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX};
    for (uint64_t v : varints) {
        w.varint(v);
    }
    w.string("hello");
    auto bytes = w.take();
    // Little-endian on disk regardless of host: check the raw layout once.
    CHECK(bytes[1] == 0xef);
    CHECK(bytes[2] == 0xbe);

    ByteReader r(bytes, "test");
    CHECK(r.u8() == 0xab);
    CHECK(r.u16() == 0xbeef);
    CHECK(r.u32() == 0xdeadbeef);
    CHECK(r.u64() == 0x0123456789abcdefULL);
    for (uint64_t v : varints) {
        CHECK(r.varint() == v);
    }
    CHECK(r.string() == "hello");
    CHECK(r.at_end());
}

TEST_CASE("byte reader rejects short and hostile input") {
    ByteWriter w;
    w.u16(7);
    auto bytes = w.take();
    ByteReader r(bytes, "short");
    CHECK_THROWS_AS(r.u32(), krr::Error);

    // A count that claims more elements than the buffer could hold.
    ByteWriter c;
    c.varint(1000);
    c.u32(0);
    auto cb = c.take();
    ByteReader rc(cb, "count");
    CHECK_THROWS_AS(rc.count(4), krr::Error);

    // An 11-byte varint never ends within 64 bits.
    std::vector<uint8_t> endless(11, 0xff);
    ByteReader rv(endless, "varint");
    CHECK_THROWS_AS(rv.varint(), krr::Error);

    // A string longer than its limit.
    ByteWriter s;
    s.string("abcdef");
    auto sb = s.take();
    ByteReader rs(sb, "string");
    CHECK_THROWS_AS(rs.string(3), krr::Error);
}
