// Token-exact step fields in the store: the compact packing, the round trip
// through RocksDB (prompt ids as a shared blob), steps written before the
// fields existed, and the api shape the daemon's /steps writes.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <cmath>
#include <limits>

#include "memory/keys.hpp"
#include "memory/records.hpp"
#include "memory/step_json.hpp"
#include "memory/store.hpp"
#include "memory/store_testing.hpp"
#include "record_equality.hpp"
#include "sample_records.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::memory;
using troupe::memory::test::check_same;
using troupe::memory::test::sample_step;

namespace {

StepRecord step_with_tokens(const std::string& run, uint64_t seq) {
  StepRecord s = sample_step(run, seq);
  s.prompt_token_ids = {1, 151644, 872, 198, 0, 2147483647};
  s.completion_token_ids = {19, 13, 300000, 151645};
  s.token_logprobs = {-0.25, -1.5e-7, -12.75, std::numeric_limits<double>::quiet_NaN()};
  s.top_logprobs_json = R"([[{"token":"4","logprob":-0.25}],[],[],[]])";
  s.tokens_unavailable = {"logprobs"};
  s.token_info = "prompt_token_ids: 4 tokens continue request r-1";
  return s;
}

}  // namespace

TEST_CASE("token ids and logprobs pack compactly and unpack exactly", "[memory][token_ids]") {
  std::vector<int32_t> ids;
  for (int32_t v : {0, 1, 127, 128, 16383, 16384, 151645, 2097151, 2097152, 2147483647}) ids.push_back(v);
  auto packed = pack_token_ids(ids);
  auto back = unpack_token_ids(packed);
  REQUIRE(back.ok());
  CHECK(*back == ids);
  CHECK(unpack_token_ids(pack_token_ids({})).value().empty());
  // Vocabulary-sized ids take about 4 characters each, not JSON's 6-7.
  std::vector<int32_t> many(1000, 151000);
  CHECK(pack_token_ids(many).size() <= 4 * many.size());

  std::vector<double> lps = {0.0, -0.5, -1e-9, -30.25, std::numeric_limits<double>::quiet_NaN()};
  auto lback = unpack_logprobs(pack_logprobs(lps));
  REQUIRE(lback.ok());
  REQUIRE(lback->size() == lps.size());
  for (size_t i = 0; i + 1 < lps.size(); ++i) CHECK((*lback)[i] == static_cast<double>(static_cast<float>(lps[i])));
  CHECK(std::isnan(lback->back()));

  CHECK_FALSE(unpack_token_ids("not base64!").ok());
  CHECK_FALSE(unpack_token_ids("gA==").ok());  // a varint cut short (0x80)
  CHECK_FALSE(unpack_logprobs("AAA=").ok());   // 2 bytes: not a float32
}

TEST_CASE("a step's token fields round-trip through the store, equal prompt ids share one blob",
          "[memory][token_ids]") {
  troupe::testing::TempDir dir;
  auto opened = Store::open(dir.file("db"));
  REQUIRE(opened.ok());
  auto& store = **opened;
  StepRecord a = step_with_tokens("run-1", 0);
  StepRecord b = step_with_tokens("run-1", 1);  // same prompt and prompt ids (a sibling sample)
  b.completion_token_ids = {5};
  b.token_logprobs = {-0.125};
  REQUIRE(store.append_steps({a, b}).ok());
  auto blobs = store.count_blobs();
  REQUIRE(blobs.ok());
  CHECK(*blobs == 2);  // the prompt messages and the prompt ids, once each
  auto steps = store.read_steps("run-1");
  REQUIRE(steps.ok());
  REQUIRE(steps->size() == 2);
  check_same((*steps)[0], a);
  check_same((*steps)[1], b);
}

TEST_CASE("a step stored before token fields existed decodes with none", "[memory][token_ids]") {
  troupe::testing::TempDir dir;
  const std::string path = dir.file("db");
  StepRecord plain = sample_step("run-old", 0);
  {
    auto opened = Store::open(path);
    REQUIRE(opened.ok());
    REQUIRE((*opened)->append_steps({plain}).ok());
  }
  // The value as the previous release wrote it: no token keys at all.
  std::string old_value = encode_step(plain, "");
  CHECK(old_value.find("ids") == std::string::npos);
  CHECK(old_value.find("logprobs") == std::string::npos);
  plain.prompt.clear();
  REQUIRE(memory::testing::write_raw(path, "steps", step_key("run-old", 0), old_value).ok());
  auto opened = Store::open(path);
  REQUIRE(opened.ok());
  auto steps = (*opened)->read_steps("run-old");
  REQUIRE(steps.ok());
  REQUIRE(steps->size() == 1);
  check_same(steps->front(), plain);
  CHECK(steps->front().prompt_token_ids.empty());
  CHECK(steps->front().completion_token_ids.empty());

  // A packed field that is not a packing is a parse error naming it.
  std::string bad = old_value;
  bad.insert(bad.size() - 1, R"(,"completion_ids":"@@@@")");
  auto decoded = decode_step(bad);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().message.find("completion_ids") != std::string::npos);
}

TEST_CASE("the api shape of a step writes ids and logprobs as JSON arrays, NaN as null", "[memory][token_ids]") {
  StepRecord s = step_with_tokens("run-1", 3);
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  write_step_fields(w, s, StepShape::api);
  w.end_object();
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(out).get(doc) == simdjson::SUCCESS);
  std::vector<int64_t> ids;
  for (auto e : doc["prompt_token_ids"].get_array()) ids.push_back(e.get_int64().value());
  CHECK(ids == std::vector<int64_t>(s.prompt_token_ids.begin(), s.prompt_token_ids.end()));
  auto lps = doc["token_logprobs"].get_array();
  REQUIRE(lps.size() == 4);
  CHECK(lps.at(0).get_double().value() == -0.25);
  CHECK(lps.at(3).is_null());
  CHECK(doc["sampling"]["temperature"].get_double().value() == 0.7);
  CHECK(doc["top_logprobs"].is_array());
  CHECK(doc["verdict"].is_null());
  CHECK(std::string(doc["token_info"].get_string().value()) == s.token_info);
}
