// Token-exact trajectories end to end: LeaP on the local engine with
// stories260K records every model call's prompt and sampled token ids, each
// segment continuing its path's earlier tokens exactly; `troupe export`
// turns the store into rollouts, verl rows and per-turn SFT, checked here
// line by line against the store.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "cli_harness.hpp"
#include "memory/store.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using troupe::testing::read_file;
using troupe::testing::run_troupe;
using troupe::testing::shell_quote;
using troupe::testing::TempDir;

namespace {

const std::string kSource = TROUPE_SOURCE_DIR;
const std::string kModelDir = std::string(TROUPE_SHARED_DIR) + "/models/stories260K";
constexpr int32_t kStoriesEos = 2;  // llama2.c tokenizer: 0 <unk>, 1 BOS, 2 EOS

struct StoreView {
  std::map<std::string, memory::RunRecord> runs;
  std::map<std::string, std::map<uint64_t, memory::StepRecord>> steps;
};

StoreView load(const std::string& db) {
  memory::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto s = memory::Store::open(db, o);
  REQUIRE(s.ok());
  StoreView v;
  REQUIRE((*s)->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
    v.runs[run.id] = run;
    auto steps = (*s)->read_steps(run.id);
    REQUIRE(steps.ok());
    for (auto& st : *steps) v.steps[run.id][st.seq] = st;
    return true;
  }).ok());
  return v;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

std::vector<int32_t> ints(simdjson::dom::element e) {
  std::vector<int32_t> out;
  for (auto x : e.get_array()) out.push_back(static_cast<int32_t>(x.get_int64().value()));
  return out;
}

std::string str(simdjson::dom::element e) { return std::string(e.get_string().value()); }

// A model call, as the RL exports count them: not a tool role's step.
bool model_call(const memory::StepRecord& s) { return !s.finish_reason.empty() && s.backend.rfind("tool/", 0) != 0; }

std::string export_to(const std::string& db, const std::string& format, const std::string& file) {
  auto r = run_troupe("export --db " + shell_quote(db) + " --format " + format + " --out " + shell_quote(file));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return read_file(file);
}

}  // namespace

TEST_CASE("LeaP on stories260K: segments continue their path's token ids exactly, and the RL exports match the store",
          "[cli][e2e][local][token_ids]") {
  if (!std::filesystem::exists(kModelDir + "/stories260K.bin")) {
    WARN("../shared/models/stories260K is absent: skipping the token-exact LeaP run");
    return;
  }
  TempDir dir;
  const std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(kSource + "/examples/leap-local.yaml") + " --input " +
                      shell_quote(kSource + "/examples/data/leap.jsonl") + " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  StoreView v = load(db);
  REQUIRE(v.runs.size() == 2);

  // 1. Every model call has its ids; segment 2 of a path continues the
  //    path's summary call (LeaP's summary prompt holds the path so far):
  //    it starts with that call's prompt ids and sampled ids.
  size_t continued = 0;
  for (auto& [run_id, steps] : v.steps) {
    for (auto& [seq, s] : steps) {
      if (!model_call(s)) continue;
      CHECK(!s.prompt_token_ids.empty());
      CHECK(s.tokens_unavailable.empty());
      CHECK(s.token_logprobs.size() == s.completion_token_ids.size());
      if (s.kind != "segment" || s.parents.size() != 2) continue;
      const auto& summary = steps.at(s.parents[0]);
      REQUIRE(summary.kind == "summary");
      std::vector<int32_t> expected = summary.prompt_token_ids;
      expected.insert(expected.end(), summary.completion_token_ids.begin(), summary.completion_token_ids.end());
      if (!expected.empty() && expected.back() == kStoriesEos) expected.pop_back();
      REQUIRE(s.prompt_token_ids.size() > expected.size());
      CHECK(std::equal(expected.begin(), expected.end(), s.prompt_token_ids.begin()));
      CHECK(s.token_info.find("continue request") != std::string::npos);
      ++continued;
    }
  }
  CHECK(continued == 4);  // 2 runs x 2 paths

  // 2. rollouts: one line per run; every turn's ids are the stored ids, the
  //    loss mask covers prompt + completion, the reward is the gold match.
  simdjson::dom::parser parser;
  auto rollouts = lines_of(export_to(db, "rollouts", dir.file("rollouts.jsonl")));
  CHECK(rollouts.size() == v.runs.size());
  size_t masked_prompt_tokens = 0;
  for (const auto& line : rollouts) {
    simdjson::dom::element row;
    REQUIRE(parser.parse(line).get(row) == simdjson::SUCCESS);
    const std::string run_id = str(row["run_id"]);
    REQUIRE(v.runs.count(run_id) == 1);
    const auto& run = v.runs[run_id];
    REQUIRE(run.correct.has_value());
    CHECK(row["reward"].get_double().value() == (*run.correct ? 1.0 : 0.0));
    size_t turns = 0;
    for (auto t : row["turns"].get_array()) {
      ++turns;
      const auto& s = v.steps[run_id].at(t["seq"].get_uint64().value());
      auto prompt_ids = ints(t["prompt_ids"]);
      auto completion_ids = ints(t["completion_ids"]);
      CHECK(prompt_ids == s.prompt_token_ids);
      CHECK(completion_ids == s.completion_token_ids);
      CHECK(t["logprobs"].get_array().size() == completion_ids.size());
      auto mask = ints(t["loss_mask"]);
      REQUIRE(mask.size() == prompt_ids.size() + completion_ids.size());
      for (size_t i = prompt_ids.size(); i < mask.size(); ++i) CHECK(mask[i] == 1);
      for (size_t i = 0; i < prompt_ids.size(); ++i) masked_prompt_tokens += mask[i];
      CHECK(t["reward"].get_double().value() == (*run.correct ? 1.0 : 0.0));
      CHECK(str(t["completion"]) == s.completion);
    }
    size_t calls = 0;
    for (auto& [seq, s] : v.steps[run_id]) calls += model_call(s) ? 1 : 0;
    CHECK(turns == calls);
  }
  // Continued segments train on the earlier segments they carry.
  CHECK(masked_prompt_tokens > 0);

  // 3. verl: a row per run with gold, in verl's columns.
  auto verl = lines_of(export_to(db, "verl", dir.file("verl.jsonl")));
  CHECK(verl.size() == v.runs.size());
  for (size_t i = 0; i < verl.size(); ++i) {
    simdjson::dom::element row;
    REQUIRE(parser.parse(verl[i]).get(row) == simdjson::SUCCESS);
    CHECK(str(row["data_source"]) == "leap-local");
    CHECK(str(row["ability"]) == "leap");
    CHECK(str(row["reward_model"]["style"]) == "rule");
    const std::string run_id = str(row["extra_info"]["run_id"]);
    REQUIRE(v.runs.count(run_id) == 1);
    CHECK(str(row["reward_model"]["ground_truth"]) == v.runs[run_id].gold);
    CHECK(str(row["extra_info"]["split"]) == "train");
    CHECK(row["extra_info"]["index"].get_uint64().value() == i);
    // The prompt: the first model call's messages without the prefill.
    const auto& first = v.steps[run_id].begin()->second;
    auto prompt = row["prompt"].get_array();
    REQUIRE(prompt.size() + 1 == first.prompt.size());
    size_t k = 0;
    for (auto m : prompt) {
      CHECK(str(m["role"]) == first.prompt[k].role);
      CHECK(str(m["content"]) == first.prompt[k].content);
      ++k;
    }
  }

  // 4. sft-turns: one row per model call; only its completion is trained.
  auto sft = lines_of(export_to(db, "sft-turns", dir.file("sft.jsonl")));
  size_t calls = 0;
  for (auto& [run_id, steps] : v.steps)
    for (auto& [seq, s] : steps)
      if (model_call(s) && !(s.label && !*s.label)) ++calls;
  CHECK(sft.size() == calls);
  for (const auto& line : sft) {
    simdjson::dom::element row;
    REQUIRE(parser.parse(line).get(row) == simdjson::SUCCESS);
    const auto& s = v.steps[str(row["run_id"])].at(row["seq"].get_uint64().value());
    auto msgs = row["messages"].get_array();
    REQUIRE(msgs.size() == s.prompt.size() + 1);
    size_t k = 0;
    for (auto m : msgs) {
      const bool last = k + 1 == msgs.size();
      CHECK(m["train"].get_bool().value() == last);
      CHECK(str(m["content"]) == (last ? s.completion : s.prompt[k].content));
      ++k;
    }
  }
}
