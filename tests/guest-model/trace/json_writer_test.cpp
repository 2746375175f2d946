#include "guest-model/error.h"
#include "guest-model/trace/json_writer.h"

#include <doctest/doctest.h>

using krr::json_quote;
using krr::JsonWriter;

TEST_CASE("JSON strings are escaped per RFC 8259") {
    CHECK(json_quote("plain") == "\"plain\"");
    CHECK(json_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(json_quote("\n\r\t") == "\"\\n\\r\\t\"");
    CHECK(json_quote(std::string("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\\u007f\"");
    CHECK(json_quote(std::string("nul\0x", 5)) == "\"nul\\u0000x\"");
    // Valid UTF-8 passes through; anything else becomes U+FFFD.
    CHECK(json_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    CHECK(json_quote("\xff") == "\"\\ufffd\"");
    CHECK(json_quote("\xc3") == "\"\\ufffd\"");                                  // cut short
    CHECK(json_quote("\xc0\xaf") == "\"\\ufffd\\ufffd\"");                       // overlong '/'
    CHECK(json_quote("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");            // surrogate
    CHECK(json_quote("\xf4\x90\x80\x80") == "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); // > U+10FFFF
}

TEST_CASE("JSON writer nests objects and arrays with commas in the right places") {
    JsonWriter j;
    j.begin_object();
    j.key("n");
    j.value(uint64_t{18446744073709551615ULL});
    j.key("neg");
    j.value(int64_t{-5});
    j.key("list");
    j.begin_array();
    j.value("a");
    j.value(true);
    j.null();
    j.begin_object();
    j.end_object();
    j.end_array();
    j.key("empty");
    j.begin_array();
    j.end_array();
    j.end_object();
    CHECK(j.text() == "{\n"
                      "  \"n\": 18446744073709551615,\n"
                      "  \"neg\": -5,\n"
                      "  \"list\": [\n"
                      "    \"a\",\n"
                      "    true,\n"
                      "    null,\n"
                      "    {}\n"
                      "  ],\n"
                      "  \"empty\": []\n"
                      "}\n");
}

TEST_CASE("JSON writer refuses malformed documents") {
    JsonWriter j;
    j.begin_object();
    CHECK_THROWS_AS(j.value("no key"), krr::Error);
    CHECK_THROWS_AS(j.end_array(), krr::Error);
    CHECK_THROWS_AS(j.text(), krr::Error);
    JsonWriter k;
    CHECK_THROWS_AS(k.key("x"), krr::Error);
}
