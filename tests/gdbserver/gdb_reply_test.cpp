#include "gdbserver/gdb_reply.h"

#include <doctest/doctest.h>

using namespace krr::gdb;

TEST_CASE("plain replies") {
    CHECK(ok_reply().payload == "OK");
    CHECK(error_reply(1).payload == "E01");
    CHECK(error_reply(0x2a).payload == "E2a");
    CHECK(empty_reply().payload.empty());
    CHECK_FALSE(empty_reply().silent);
    const uint8_t bytes[] = {0x00, 0x7f, 0x80, 0xff};
    CHECK(hex_reply(bytes).payload == "007f80ff");
    CHECK(hex_text_reply("ok\n").payload == "6f6b0a");
}

TEST_CASE("thread ids are formatted in both modes") {
    CHECK(format_thread_id(ThreadId{true, 1, 1}, true) == "p1.1");
    CHECK(format_thread_id(ThreadId{true, 0x2a, 0x10}, true) == "p2a.10");
    CHECK(format_thread_id(ThreadId{false, 0, 3}, true) == "p1.3");
    CHECK(format_thread_id(ThreadId{true, 1, -1}, true) == "p1.-1");
    CHECK(format_thread_id(ThreadId{false, 0, 0x1f}, false) == "1f");
}

TEST_CASE("stop replies") {
    StopReply s;
    s.thread = ThreadId{true, 1, 1};
    CHECK(stop_reply(s).payload == "T05thread:p1.1;");
    s.cause = StopCause::WriteWatchpoint;
    s.address = 0xffffffff82a01040ULL;
    CHECK(stop_reply(s).payload == "T05watch:ffffffff82a01040;thread:p1.1;");
    s.cause = StopCause::ReadWatchpoint;
    s.address = 0x601040;
    CHECK(stop_reply(s).payload == "T05rwatch:601040;thread:p1.1;");
    s.cause = StopCause::AccessWatchpoint;
    CHECK(stop_reply(s).payload == "T05awatch:601040;thread:p1.1;");
    s.cause = StopCause::ReplayBegin;
    CHECK(stop_reply(s).payload == "T05replaylog:begin;thread:p1.1;");
    s.cause = StopCause::ReplayEnd;
    s.thread.reset();
    CHECK(stop_reply(s).payload == "T05replaylog:end;");
    StopReply interrupted;
    interrupted.signal = 2;
    interrupted.thread = ThreadId{false, 0, 2};
    interrupted.multiprocess = false;
    CHECK(stop_reply(interrupted).payload == "T02thread:2;");
    CHECK(exited_reply(0).payload == "W00");
    CHECK(terminated_reply(9).payload == "X09");
}

TEST_CASE("qXfer pieces: m while more follows, l for the last") {
    const std::string doc = "0123456789";
    CHECK(xfer_reply(doc, 0, 4).payload == "m0123");
    CHECK(xfer_reply(doc, 4, 4).payload == "m4567");
    CHECK(xfer_reply(doc, 8, 4).payload == "l89");
    CHECK(xfer_reply(doc, 0, 100).payload == "l0123456789");
    CHECK(xfer_reply(doc, 10, 4).payload == "l");
    CHECK(xfer_reply(doc, 1000, 4).payload == "l");
    CHECK(xfer_reply(doc, 6, 4).payload == "l6789");
}

TEST_CASE("qXfer pieces leave room for escapes") {
    // '#' and '*' take two bytes on the wire, so only three of them fit in 6.
    const std::string doc = "#*#*#";
    CHECK(xfer_reply(doc, 0, 6).payload == "m#*#");
    CHECK(xfer_reply(doc, 0, 5).payload == "m#*");
    CHECK(xfer_reply(doc, 3, 6).payload == "l*#");
}

TEST_CASE("qSupported and vCont? replies") {
    CHECK(supported_reply(0x4000, false).payload ==
          "PacketSize=4000;qXfer:features:read+;ReverseStep+;ReverseContinue+;"
          "QStartNoAckMode+;vContSupported+");
    CHECK(supported_reply(0x4000, true).payload ==
          "PacketSize=4000;qXfer:features:read+;ReverseStep+;ReverseContinue+;"
          "QStartNoAckMode+;vContSupported+;multiprocess+");
    CHECK(resume_actions_reply().payload == "vCont;c;C;s;S");
}
