#include "gdbserver/gdb_request.h"
#include "guest-model/error.h"

#include <doctest/doctest.h>

using namespace krr::gdb;

namespace {

template <typename T>
T parsed_as(std::string_view payload) {
    GdbRequest r = parse_request(payload);
    if (auto* m = std::get_if<MalformedRequest>(&r)) {
        FAIL_CHECK("'" << payload << "' malformed: " << m->why);
    }
    REQUIRE(std::holds_alternative<T>(r));
    return std::get<T>(r);
}

bool malformed(std::string_view payload) {
    return std::holds_alternative<MalformedRequest>(parse_request(payload));
}

ThreadId plain(int64_t tid) {
    return ThreadId{false, 0, tid};
}

ThreadId multi(int64_t pid, int64_t tid) {
    return ThreadId{true, pid, tid};
}

} // namespace

TEST_CASE("thread ids in every form gdb writes") {
    CHECK(parse_thread_id("-1") == plain(ThreadId::kAll));
    CHECK(parse_thread_id("0") == plain(ThreadId::kAny));
    CHECK(parse_thread_id("1f") == plain(0x1f));
    CHECK(parse_thread_id("p1.2") == multi(1, 2));
    CHECK(parse_thread_id("p1.-1") == multi(1, -1));
    CHECK(parse_thread_id("p-1.-1") == multi(-1, -1));
    CHECK(parse_thread_id("p0.0") == multi(0, 0));
    CHECK(parse_thread_id("pa") == multi(10, ThreadId::kAll));
    CHECK_THROWS_AS(parse_thread_id(""), krr::Error);
    CHECK_THROWS_AS(parse_thread_id("p"), krr::Error);
    CHECK_THROWS_AS(parse_thread_id("p1."), krr::Error);
    CHECK_THROWS_AS(parse_thread_id("-2"), krr::Error);
    CHECK_THROWS_AS(parse_thread_id("8000000000000000"), krr::Error);
    CHECK_THROWS_AS(parse_thread_id("10000000000000000"), krr::Error);
    CHECK_THROWS_AS(parse_thread_id("xyz"), krr::Error);
}

TEST_CASE("qSupported with gdb 13's feature list") {
    auto q = parsed_as<QuerySupported>(
        "qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;"
        "exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;"
        "xmlRegisters=i386");
    REQUIRE(q.features.size() == 12);
    CHECK(q.features[0] == GdbFeature{"multiprocess", "+"});
    CHECK(q.features[7] == GdbFeature{"vContSupported", "+"});
    CHECK(q.features[11] == GdbFeature{"xmlRegisters", "i386"});
    CHECK(parsed_as<QuerySupported>("qSupported").features.empty());
    CHECK(parsed_as<QuerySupported>("qSupported:foo-;bar?").features ==
          std::vector<GdbFeature>{{"foo", "-"}, {"bar", "?"}});
    CHECK(malformed("qSupported:multiprocess"));
    CHECK(malformed("qSupported:a+;;b+"));
    CHECK(malformed("qSupported:+"));
}

TEST_CASE("qXfer:features:read") {
    CHECK(parsed_as<ReadFeatureDocument>("qXfer:features:read:target.xml:0,ffb") ==
          ReadFeatureDocument{"target.xml", 0, 0xffb});
    CHECK(parsed_as<ReadFeatureDocument>("qXfer:features:read:i386-64bit.xml:7fb,ffb") ==
          ReadFeatureDocument{"i386-64bit.xml", 0x7fb, 0xffb});
    CHECK(malformed("qXfer:features:read:target.xml"));
    CHECK(malformed("qXfer:features:read:target.xml:0"));
    CHECK(malformed("qXfer:features:read::0,10"));
    CHECK(malformed("qXfer:features:read:target.xml:0,"));
    CHECK(malformed("qXfer:features:read:target.xml:g,10"));
    CHECK(malformed("qXfer:features:read:target.xml:0,10000000000000000"));
    // Other qXfer objects are not offered, so they are merely unknown.
    CHECK(std::holds_alternative<UnknownRequest>(parse_request("qXfer:threads:read::0,ffb")));
}

TEST_CASE("the simple queries") {
    CHECK(parsed_as<QueryAttached>("qAttached") == QueryAttached{});
    CHECK(parsed_as<QueryAttached>("qAttached:1") == QueryAttached{1});
    CHECK(malformed("qAttached:"));
    CHECK(malformed("qAttached:0"));
    parsed_as<QueryCurrentThread>("qC");
    parsed_as<QueryThreadListStart>("qfThreadInfo");
    parsed_as<QueryThreadListNext>("qsThreadInfo");
    parsed_as<QueryOffsets>("qOffsets");
    parsed_as<QueryStopReason>("?");
    CHECK(malformed("?x"));
    parsed_as<MustReplyEmpty>("vMustReplyEmpty");
    parsed_as<StartNoAckMode>("QStartNoAckMode");
    parsed_as<QueryResumeActions>("vCont?");
    parsed_as<ReverseContinue>("bc");
    parsed_as<ReverseStep>("bs");
}

TEST_CASE("qSymbol in its three shapes") {
    CHECK(parsed_as<QuerySymbol>("qSymbol::") == QuerySymbol{std::nullopt, ""});
    // "_stext" in hex.
    CHECK(parsed_as<QuerySymbol>("qSymbol:ffffffff81000000:5f7374657874") ==
          QuerySymbol{0xffffffff81000000ULL, "_stext"});
    CHECK(parsed_as<QuerySymbol>("qSymbol::5f7374657874") == QuerySymbol{std::nullopt, "_stext"});
    CHECK(malformed("qSymbol:"));
    CHECK(malformed("qSymbol::5f737"));
    CHECK(malformed("qSymbol:10:"));
}

TEST_CASE("registers: g, G, p, P") {
    parsed_as<ReadRegisters>("g");
    CHECK(malformed("g0"));
    CHECK(parsed_as<WriteRegisters>("G0102ff").image == std::vector<uint8_t>{1, 2, 0xff});
    CHECK(parsed_as<WriteRegisters>("G").image.empty());
    CHECK(malformed("G010"));
    CHECK(malformed("G0x"));
    CHECK(parsed_as<ReadRegister>("p10") == ReadRegister{16});
    CHECK(parsed_as<ReadRegister>("p0") == ReadRegister{0});
    CHECK(malformed("p"));
    CHECK(malformed("p100000000"));
    CHECK(parsed_as<WriteRegister>("P10=0010400000000000") ==
          WriteRegister{16, {0x00, 0x10, 0x40, 0, 0, 0, 0, 0}});
    CHECK(malformed("P10"));
    CHECK(malformed("P=00"));
    CHECK(malformed("P10=0"));
}

TEST_CASE("memory: m, M, X") {
    CHECK(parsed_as<ReadMemory>("m4015bc,2") == ReadMemory{0x4015bc, 2});
    CHECK(parsed_as<ReadMemory>("mffffffff81000000,40") == ReadMemory{0xffffffff81000000ULL, 0x40});
    CHECK(malformed("m4015bc"));
    CHECK(malformed("m,2"));
    CHECK(malformed("m4015bc,"));
    CHECK(malformed("m1ffffffffffffffff,1"));
    CHECK(parsed_as<WriteMemory>("M4015cc,2:c320") == WriteMemory{0x4015cc, {0xc3, 0x20}});
    CHECK(malformed("M4015cc,3:c320"));
    CHECK(malformed("M4015cc,2"));
    CHECK(malformed("M4015cc,2:c3z0"));
    // X carries the bytes themselves (already unescaped by the decoder),
    // including ':' and NUL.
    CHECK(parsed_as<WriteMemory>(std::string_view("X1000,4:\x00:#}", 12)) ==
          WriteMemory{0x1000, {0x00, ':', '#', '}'}});
    // gdb probes X support with an empty write.
    CHECK(parsed_as<WriteMemory>("X1000,0:") == WriteMemory{0x1000, {}});
    CHECK(malformed("X1000,2:a"));
    CHECK(malformed("X1000,1"));
}

TEST_CASE("breakpoints and watchpoints") {
    CHECK(parsed_as<InsertBreakpoint>("Z0,ffffffff81000000,1") ==
          InsertBreakpoint{BreakpointType::Software, 0xffffffff81000000ULL, 1});
    CHECK(parsed_as<InsertBreakpoint>("Z1,401000,1") ==
          InsertBreakpoint{BreakpointType::Hardware, 0x401000, 1});
    CHECK(parsed_as<InsertBreakpoint>("Z2,601040,4") ==
          InsertBreakpoint{BreakpointType::WriteWatchpoint, 0x601040, 4});
    CHECK(parsed_as<InsertBreakpoint>("Z3,601040,8") ==
          InsertBreakpoint{BreakpointType::ReadWatchpoint, 0x601040, 8});
    CHECK(parsed_as<InsertBreakpoint>("Z4,601040,2") ==
          InsertBreakpoint{BreakpointType::AccessWatchpoint, 0x601040, 2});
    CHECK(parsed_as<RemoveBreakpoint>("z2,601040,4") ==
          RemoveBreakpoint{BreakpointType::WriteWatchpoint, 0x601040, 4});
    CHECK(malformed("Z5,1000,1"));
    CHECK(malformed("Z,1000,1"));
    CHECK(malformed("Z01,1000,1"));
    CHECK(malformed("Z0,1000"));
    CHECK(malformed("Z0,1000,1;X3,220c"));
    CHECK(malformed("z0,,1"));
}

TEST_CASE("vCont actions with thread ids") {
    CHECK(parsed_as<Resume>("vCont;c") ==
          Resume{{{ResumeAction::Kind::Continue, std::nullopt, std::nullopt}}});
    CHECK(parsed_as<Resume>("vCont;s:p1.1;c:p1.-1") ==
          Resume{{{ResumeAction::Kind::Step, std::nullopt, multi(1, 1)},
                  {ResumeAction::Kind::Continue, std::nullopt, multi(1, -1)}}});
    CHECK(parsed_as<Resume>("vCont;c:-1") ==
          Resume{{{ResumeAction::Kind::Continue, std::nullopt, plain(-1)}}});
    CHECK(parsed_as<Resume>("vCont;s:2;c") ==
          Resume{{{ResumeAction::Kind::Step, std::nullopt, plain(2)},
                  {ResumeAction::Kind::Continue, std::nullopt, std::nullopt}}});
    CHECK(parsed_as<Resume>("vCont;C0b:p1.1;S05") ==
          Resume{{{ResumeAction::Kind::Continue, uint8_t{0x0b}, multi(1, 1)},
                  {ResumeAction::Kind::Step, uint8_t{5}, std::nullopt}}});
    CHECK(parsed_as<Resume>("vCont;t:p1.2") ==
          Resume{{{ResumeAction::Kind::Stop, std::nullopt, multi(1, 2)}}});
    CHECK(malformed("vCont"));
    CHECK(malformed("vCont;"));
    CHECK(malformed("vCont;x"));
    CHECK(malformed("vCont;c:"));
    CHECK(malformed("vCont;C5"));
    CHECK(malformed("vCont;r1000,2000"));
    CHECK(malformed("vCont;c;;s"));
    CHECK(malformed("vContc"));
}

TEST_CASE("c, s with and without an address") {
    CHECK(parsed_as<Continue>("c") == Continue{});
    CHECK(parsed_as<Continue>("c401000") == Continue{0x401000});
    CHECK(parsed_as<Step>("s") == Step{});
    CHECK(parsed_as<Step>("sffffffff81000000") == Step{0xffffffff81000000ULL});
    CHECK(malformed("cxyz"));
    CHECK(std::holds_alternative<UnknownRequest>(parse_request("bx")));
}

TEST_CASE("thread selection and queries") {
    CHECK(parsed_as<SetThread>("Hg0") == SetThread{SetThread::Operation::General, plain(0)});
    CHECK(parsed_as<SetThread>("Hgp1.2") == SetThread{SetThread::Operation::General, multi(1, 2)});
    CHECK(parsed_as<SetThread>("Hc-1") == SetThread{SetThread::Operation::Continue, plain(-1)});
    CHECK(malformed("H"));
    CHECK(malformed("Hg"));
    CHECK(malformed("Hgq"));
    CHECK(std::holds_alternative<UnknownRequest>(parse_request("Hs1")));
    CHECK(parsed_as<QueryThreadAlive>("Tp1.2") == QueryThreadAlive{multi(1, 2)});
    CHECK(malformed("T"));
    CHECK(parsed_as<QueryThreadExtraInfo>("qThreadExtraInfo,p1.1") ==
          QueryThreadExtraInfo{multi(1, 1)});
    CHECK(malformed("qThreadExtraInfo,"));
}

TEST_CASE("kill, detach and monitor commands") {
    CHECK(parsed_as<Kill>("k") == Kill{});
    CHECK(parsed_as<Kill>("vKill;1") == Kill{1});
    CHECK(malformed("vKill;"));
    CHECK(malformed("kx"));
    CHECK(parsed_as<Detach>("D") == Detach{});
    CHECK(parsed_as<Detach>("D;1") == Detach{1});
    CHECK(malformed("D1"));
    CHECK(malformed("D;"));
    // "goto 1000" in hex.
    CHECK(parsed_as<MonitorCommand>("qRcmd,676f746f2031303030") == MonitorCommand{"goto 1000"});
    CHECK(parsed_as<MonitorCommand>("qRcmd,") == MonitorCommand{""});
    CHECK(malformed("qRcmd,7"));
    CHECK(malformed("qRcmd,zz"));
}

TEST_CASE("unknown packets are unknown, not errors") {
    for (std::string_view p : {"qTStatus", "vFile:setfs:0", "qL1200000000000000000", "!", "",
                               "QThreadEvents:1", "qXfer:exec-file:read:1:0,ffb"}) {
        GdbRequest r = parse_request(p);
        REQUIRE(std::holds_alternative<UnknownRequest>(r));
        CHECK(std::get<UnknownRequest>(r).payload == p);
    }
}

TEST_CASE("malformed requests keep the payload and say why") {
    GdbRequest r = parse_request("m12,zz");
    REQUIRE(std::holds_alternative<MalformedRequest>(r));
    CHECK(std::get<MalformedRequest>(r).payload == "m12,zz");
    CHECK(std::get<MalformedRequest>(r).why.find("length is not hex") != std::string::npos);
}
