// The record codec and key layout (memory/records.hpp, memory/keys.hpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "common/json_writer.hpp"
#include "memory/keys.hpp"
#include "memory/records.hpp"
#include "memory/record_equality.hpp"
#include "memory/sample_records.hpp"

using namespace troupe;
using namespace troupe::memory;
using namespace troupe::memory::test;

namespace {

StepRecord round_trip(const StepRecord& s) {
  auto decoded = decode_step(encode_step(s, "blobkey"));
  REQUIRE(decoded.ok());
  CHECK(decoded->prompt_blob == "blobkey");
  decoded->step.prompt = s.prompt;  // the prompt lives in the blob
  return decoded->step;
}

}  // namespace

TEST_CASE("a run record round-trips every field, absent and false optionals alike") {
  RunRecord run = sample_run("run-1");
  for (std::optional<bool> correct : {std::optional<bool>(), std::optional<bool>(false), std::optional<bool>(true)}) {
    run.correct = correct;
    for (auto status : {RunStatus::queued, RunStatus::running, RunStatus::succeeded, RunStatus::failed,
                        RunStatus::cancelled, RunStatus::interrupted}) {
      run.status = status;
      for (const char* origin : {"", kRunOriginCli}) {
        run.origin = origin;
        auto back = decode_run(encode_run(run));
        REQUIRE(back.ok());
        check_same(*back, run);
      }
    }
  }
}

TEST_CASE("a run record written before origins existed reads with an empty origin, an empty origin is not written") {
  RunRecord run = sample_run("run-1");
  std::string old_style = encode_run(run);
  CHECK(old_style.find("origin") == std::string::npos);
  auto back = decode_run(old_style);
  REQUIRE(back.ok());
  CHECK(back->origin.empty());
  CHECK(run_status_from_string("interrupted") == RunStatus::interrupted);
  CHECK(std::string(to_string(RunStatus::interrupted)) == "interrupted");
}

TEST_CASE("a step record round-trips every field with optionals set and unset") {
  StepRecord step = sample_step("run-1", 3);
  check_same(round_trip(step), step);

  step.verdict = false;
  step.score = 0.0;
  step.label = false;
  step.meta_json = R"({"k":1})";
  check_same(round_trip(step), step);

  step.verdict = true;
  step.score = -1.25e-7;
  step.label = true;
  step.latency_ms = 3.0;  // written as "3", read back as a double
  check_same(round_trip(step), step);
}

TEST_CASE("a step with no prompt stores no blob key") {
  StepRecord step = sample_step("run-1", 0, {});
  auto decoded = decode_step(encode_step(step, ""));
  REQUIRE(decoded.ok());
  CHECK(decoded->prompt_blob.empty());
}

TEST_CASE("seq, parents and timestamps at the ends of their ranges round-trip") {
  StepRecord step = sample_step("run-1", std::numeric_limits<uint64_t>::max());
  step.parents = {0, std::numeric_limits<uint64_t>::max() - 1};
  step.created_ms = std::numeric_limits<int64_t>::min();
  step.prompt_tokens = std::numeric_limits<int64_t>::max();
  check_same(round_trip(step), step);
}

TEST_CASE("a pair record round-trips every field") {
  PairRecord pair = sample_pair("pair-1", "run-1");
  auto back = decode_pair(encode_pair(pair));
  REQUIRE(back.ok());
  check_same(*back, pair);
}

TEST_CASE("unicode, NUL and control characters round-trip unchanged") {
  const std::string text = std::string("héllo \xE2\x88\x80x \xF0\x9F\x98\x80 \"q\" \\ \n\t\r\b\f\x01\x1F") +
                           std::string(1, '\0') + "end";
  StepRecord step = sample_step("run-ü", 1, {{"user", text}});
  step.completion = text;
  step.sampling_json = text;
  check_same(round_trip(step), step);

  auto messages = decode_messages(encode_messages(step.prompt));
  REQUIRE(messages.ok());
  check_same_messages(*messages, step.prompt);
}

TEST_CASE("invalid UTF-8 from the model is stored as U+FFFD instead of failing") {
  StepRecord step = sample_step("run-1", 1);
  step.completion = "ok \xFF\xC0 bad \xED\xA0\x80 end";
  auto decoded = decode_step(encode_step(step, ""));
  REQUIRE(decoded.ok());
  CHECK(decoded->step.completion == sanitize_utf8(step.completion));
  CHECK(decoded->step.completion.find("\xEF\xBF\xBD") != std::string::npos);
}

TEST_CASE("a non-finite score comes back as NaN, still present") {
  StepRecord step = sample_step("run-1", 1);
  step.score = std::numeric_limits<double>::infinity();
  auto decoded = decode_step(encode_step(step, ""));
  REQUIRE(decoded.ok());
  REQUIRE(decoded->step.score.has_value());
  CHECK(std::isnan(*decoded->step.score));
}

TEST_CASE("decoders return parse errors for bad input instead of crashing") {
  for (std::string_view bad : {"", "not json", "[1,2]", "{\"seq\":\"three\"}", "{\"parents\":[-1]}",
                               "{\"label\":1}", "{\"run_id\":", "\xFF\xFE"}) {
    auto step = decode_step(bad);
    REQUIRE_FALSE(step.ok());
    CHECK(step.error().code == ErrorCode::parse);
  }
  auto run = decode_run(R"({"status":"exploded"})");
  REQUIRE_FALSE(run.ok());
  CHECK_THAT(run.error().message, Catch::Contains("exploded"));
  auto typed = decode_run(R"({"created_ms":"yesterday"})");
  REQUIRE_FALSE(typed.ok());
  CHECK_THAT(typed.error().message, Catch::Contains("created_ms"));
  CHECK_FALSE(decode_pair(R"({"prompt":[{"role":1}]})").ok());
  CHECK_FALSE(decode_messages(R"({"role":"user"})").ok());
}

TEST_CASE("unknown keys are ignored and missing keys keep defaults") {
  auto run = decode_run(R"({"id":"r","future_field":{"x":[1]}})");
  REQUIRE(run.ok());
  CHECK(run->id == "r");
  CHECK(run->status == RunStatus::queued);
  CHECK_FALSE(run->correct.has_value());
}

TEST_CASE("step keys sort by seq, also across byte boundaries") {
  std::vector<uint64_t> seqs = {0, 1, 255, 256, 65535, 65536, 1ull << 40, ~0ull};
  for (size_t i = 1; i < seqs.size(); ++i) CHECK(step_key("r", seqs[i - 1]) < step_key("r", seqs[i]));
  auto parsed = parse_step_key(step_key("run-1", 1ull << 40));
  REQUIRE(parsed);
  CHECK(parsed->run_id == "run-1");
  CHECK(parsed->seq == (1ull << 40));
  CHECK(printable_key("steps", step_key("run-1", 7)) == "run-1#7");
}

TEST_CASE("the prefix of run-1 covers none of run-10's keys") {
  const std::string prefix = step_prefix("run-1");
  const std::string end = step_prefix_end("run-1");
  const std::string other = step_key("run-10", 0);
  CHECK(other.compare(0, prefix.size(), prefix) != 0);
  CHECK_FALSE((other >= prefix && other < end));
  CHECK(step_key("run-1", ~0ull) < end);
  CHECK_FALSE(valid_run_id(std::string("a\0b", 3)));
  CHECK_FALSE(valid_run_id(""));
}
