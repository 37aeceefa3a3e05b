#include <catch2/catch.hpp>

#include <set>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/ids.hpp"

TEST_CASE("sha256 matches the FIPS 180-4 test vectors", "[ids]") {
  CHECK(troupe::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(troupe::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(troupe::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Lengths around the padding boundary (55, 56, 64 bytes) all hash distinctly.
  std::set<std::string> seen;
  for (size_t n : {55, 56, 57, 63, 64, 65, 119, 120})
    seen.insert(troupe::sha256_hex(std::string(n, 'a')));
  CHECK(seen.size() == 8);
  // Exact digests at the padding boundaries (from coreutils' sha256sum).
  CHECK(troupe::sha256_hex(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(troupe::sha256_hex(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(troupe::sha256_hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  CHECK(troupe::sha256_hex(std::string(119, 'a')) == "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
  CHECK(troupe::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("ids are unique across threads and sort by creation order", "[ids]") {
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) per_thread[t].push_back(troupe::new_id("run"));
    });
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (auto& v : per_thread) {
    for (size_t i = 1; i < v.size(); ++i) CHECK(v[i - 1].substr(0, 16) <= v[i].substr(0, 16));
    all.insert(v.begin(), v.end());
  }
  CHECK(all.size() == 8000);
  CHECK(troupe::new_id("run").rfind("run-", 0) == 0);
}

TEST_CASE("times format as ISO-8601 UTC and parse back", "[clock]") {
  CHECK(troupe::format_utc(0) == "1970-01-01T00:00:00.000Z");
  CHECK(troupe::format_utc(1764336300123) == "2025-11-28T13:25:00.123Z");
  CHECK(troupe::parse_time("2025-11-28T13:25:00Z", 0) == std::optional<int64_t>(1764336300000));
  CHECK(troupe::parse_time("2025-11-28T13:25:00.123Z", 0) == std::optional<int64_t>(1764336300000));
  CHECK(troupe::parse_time("2025-11-28", 0) == std::optional<int64_t>(1764288000000));
  CHECK(troupe::parse_time("2h", 10'000'000) == std::optional<int64_t>(10'000'000 - 7'200'000));
  CHECK(troupe::parse_time("90s", 100'000) == std::optional<int64_t>(10'000));
  CHECK_FALSE(troupe::parse_time("yesterday", 0));
  CHECK_FALSE(troupe::parse_time("2025-13-01", 0));
  CHECK_FALSE(troupe::parse_time("", 0));
}

TEST_CASE("Result carries a value or an error with its context", "[error]") {
  troupe::Result<int> ok = 3;
  CHECK(ok.ok());
  CHECK(*ok == 3);
  troupe::Result<int> bad = troupe::Error{troupe::ErrorCode::http, "overloaded", 503, true};
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().describe() == "http 503: overloaded");
  CHECK(bad.error().with_context("backend").message == "backend: overloaded");
  CHECK_THROWS_AS(bad.value(), std::logic_error);
  troupe::Status s;
  CHECK(s.ok());
}

namespace {

troupe::Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return troupe::Error{troupe::ErrorCode::parse, std::string("not a digit: ") + c};
  return c - '0';
}

troupe::Status check_small(int v) {
  if (v > 5) return troupe::Error{troupe::ErrorCode::invalid_argument, "too big: " + std::to_string(v)};
  return {};
}

// Two digits, each small: exercises both macros, declaring and assigning.
troupe::Result<int> two_small_digits(const std::string& s, int& steps) {
  TROUPE_TRY_ASSIGN(auto first, parse_digit(s.at(0)));
  ++steps;
  TROUPE_TRY(check_small(first));
  ++steps;
  int second = -1;
  TROUPE_TRY_ASSIGN(second, parse_digit(s.at(1)));
  ++steps;
  TROUPE_TRY(check_small(second));
  return first * 10 + second;
}

}  // namespace

TEST_CASE("TROUPE_TRY and TROUPE_TRY_ASSIGN return the first error and bind values", "[error]") {
  int steps = 0;
  auto ok = two_small_digits("34", steps);
  REQUIRE(ok.ok());
  CHECK(*ok == 34);
  CHECK(steps == 3);

  steps = 0;
  auto bad_first = two_small_digits("x4", steps);
  REQUIRE_FALSE(bad_first.ok());
  CHECK(bad_first.error().code == troupe::ErrorCode::parse);
  CHECK(bad_first.error().message == "not a digit: x");
  CHECK(steps == 0);

  steps = 0;
  auto big_first = two_small_digits("74", steps);
  REQUIRE_FALSE(big_first.ok());
  CHECK(big_first.error().message == "too big: 7");
  CHECK(steps == 1);

  steps = 0;
  auto bad_second = two_small_digits("3y", steps);
  REQUIRE_FALSE(bad_second.ok());
  CHECK(bad_second.error().message == "not a digit: y");
  CHECK(steps == 2);
}
