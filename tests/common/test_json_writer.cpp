#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "common/json_writer.hpp"

using troupe::json_quote;
using troupe::JsonWriter;

TEST_CASE("JSON strings escape quotes, backslashes and every control character", "[json]") {
  CHECK(json_quote("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json_quote("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(json_quote(std::string("\x00\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
  CHECK(json_quote("\x7f") == "\"\x7f\"");  // DEL is not a control character in JSON
  CHECK(json_quote("/") == "\"/\"");
}

TEST_CASE("valid UTF-8 passes through unchanged", "[json]") {
  std::string s = "caf\xC3\xA9 \xE2\x88\x80x \xF0\x9F\x98\x80";  // café ∀x 😀
  CHECK(json_quote(s) == "\"" + s + "\"");
}

TEST_CASE("invalid UTF-8 is replaced by U+FFFD, one per bad byte", "[json]") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(json_quote("a\xFF" "b") == "\"a" + fffd + "b\"");
  CHECK(json_quote("\xC3") == "\"" + fffd + "\"");                       // truncated sequence
  CHECK(json_quote("\xC0\xAF") == "\"" + fffd + fffd + "\"");            // overlong '/'
  CHECK(json_quote("\xED\xA0\x80") == "\"" + fffd + fffd + fffd + "\"");  // UTF-16 surrogate
  CHECK(json_quote("\xF4\x90\x80\x80") == "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
  CHECK(troupe::sanitize_utf8("ok\x80") == "ok" + fffd);
}

TEST_CASE("the writer places commas and nests objects and arrays", "[json]") {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("a", 1)
      .field("b", "x")
      .key("c")
      .begin_array()
      .value(true)
      .null()
      .begin_object()
      .end_object()
      .end_array()
      .field("d", -2.5)
      .end_object();
  CHECK(out == R"({"a":1,"b":"x","c":[true,null,{}],"d":-2.5})");
  CHECK(w.complete());
}

TEST_CASE("numbers keep full range and non-finite doubles become null", "[json]") {
  std::string out;
  JsonWriter w(out);
  w.begin_array()
      .value(std::numeric_limits<int64_t>::min())
      .value(std::numeric_limits<uint64_t>::max())
      .value(0.1)
      .value(std::nan(""))
      .value(std::numeric_limits<double>::infinity())
      .end_array();
  CHECK(out == "[-9223372036854775808,18446744073709551615,0.1,null,null]");
}

TEST_CASE("raw inserts pre-encoded JSON as one value", "[json]") {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("x").raw(R"({"y":[1,2]})").field("z", false).end_object();
  CHECK(out == R"({"x":{"y":[1,2]},"z":false})");
}
