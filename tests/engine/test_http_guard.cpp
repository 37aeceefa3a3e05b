// The request checks both servers share (engine/serve/http_guard.hpp): the
// bearer-token comparison, the loopback test for listening without a
// token, and the JSON content-type check.
#include <catch2/catch.hpp>

#include "engine/serve/http_guard.hpp"

using namespace troupe::engine;

TEST_CASE("tokens_equal accepts only the exact token, whatever the presented length", "[guard]") {
  CHECK(tokens_equal("Bearer s3cret", "Bearer s3cret"));
  CHECK_FALSE(tokens_equal("Bearer s3creT", "Bearer s3cret"));
  CHECK_FALSE(tokens_equal("Xearer s3cret", "Bearer s3cret"));
  CHECK_FALSE(tokens_equal("Bearer s3cre", "Bearer s3cret"));     // a prefix
  CHECK_FALSE(tokens_equal("Bearer s3cret!", "Bearer s3cret"));   // an extension
  CHECK_FALSE(tokens_equal("", "Bearer s3cret"));
  CHECK_FALSE(tokens_equal(std::string("Bearer s3cret\0", 14), "Bearer s3cret"));  // a NUL past the end
  CHECK(tokens_equal("", ""));
}

TEST_CASE("is_loopback_host parses the address instead of testing a prefix", "[guard]") {
  for (const char* yes : {"127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]", "localhost",
                          "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"}) {
    INFO(yes);
    CHECK(is_loopback_host(yes));
  }
  for (const char* no : {"127.evil.com", "127.0.0.1.evil.com", "0.0.0.0", "1127.0.0.1", "::", "128.0.0.1",
                         "10.0.0.1", "localhost.evil.com", "", "127.1", "::ffff:10.0.0.1", " 127.0.0.1"}) {
    INFO(no);
    CHECK_FALSE(is_loopback_host(no));
  }
}

TEST_CASE("non_json_content_type names a body's type unless it is JSON or absent", "[guard]") {
  httplib::Request r;
  r.headers.emplace("Content-Length", "12");
  CHECK_FALSE(non_json_content_type(r));  // no type: read as JSON
  r.headers.emplace("Content-Type", "application/x-www-form-urlencoded");
  REQUIRE(non_json_content_type(r));
  CHECK(*non_json_content_type(r) == "application/x-www-form-urlencoded");
  for (const char* json : {"application/json", "application/json; charset=utf-8", "Application/JSON",
                           "application/vnd.api+json"}) {
    INFO(json);
    r.headers.erase("Content-Type");
    r.headers.emplace("Content-Type", json);
    CHECK_FALSE(non_json_content_type(r));
  }
  r.headers.erase("Content-Type");
  r.headers.emplace("Content-Type", "text/plain");
  CHECK(non_json_content_type(r) == std::optional<std::string>("text/plain"));
  httplib::Request empty;  // no body: nothing to check
  empty.headers.emplace("Content-Type", "text/plain");
  CHECK_FALSE(non_json_content_type(empty));
}
