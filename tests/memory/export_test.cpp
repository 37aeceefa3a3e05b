// Dataset export (memory/export.hpp): TRL JSONL and LLaMA-Factory sharegpt.
#include <catch2/catch.hpp>

#include <set>
#include <sstream>

#include <simdjson.h>

#include "memory/export.hpp"
#include "memory/keys.hpp"
#include "memory/sample_records.hpp"
#include "memory/store.hpp"
#include "memory/store_testing.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::memory;
using namespace troupe::memory::test;
using troupe::testing::TempDir;

namespace {

struct Fixture {
  TempDir dir;
  std::unique_ptr<Store> store;

  Fixture() {
    auto s = Store::open(dir.file("db"));
    REQUIRE(s.ok());
    store = std::move(s.value());
  }

  // A run of `workflow` with steps labelled good, bad and unlabelled.
  void add_run(const std::string& id, const std::string& workflow, int64_t created_ms) {
    StepRecord good = sample_step(id, 0);
    good.label = true;
    good.completion = id + " good";
    StepRecord bad = sample_step(id, 1);
    bad.label = false;
    bad.completion = id + " bad";
    StepRecord unlabelled = sample_step(id, 2);
    REQUIRE(store->write({good, bad, unlabelled}, {sample_pair("pair-" + id, id, workflow, created_ms)},
                         {sample_run(id, workflow, created_ms)})
                .ok());
  }
};

// Every line of `text` parsed; each must be a JSON object.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (!text.empty()) CHECK(text.back() == '\n');
  return lines;
}

std::set<std::string> keys_of(simdjson::dom::object obj) {
  std::set<std::string> keys;
  for (auto field : obj) keys.insert(std::string(field.key));
  return keys;
}

std::string str(simdjson::dom::element e) { return std::string(std::string_view(e)); }

// Checks a TRL message list: every message has exactly role and content.
void check_messages(simdjson::dom::array messages) {
  for (simdjson::dom::object m : messages) {
    CHECK(keys_of(m) == std::set<std::string>{"role", "content"});
    const std::string role = str(m["role"]);
    CHECK((role == "system" || role == "user" || role == "assistant"));
  }
}

std::string export_text(Store& store, ExportFormat format, const ExportFilter& filter = {},
                        ExportStats* stats = nullptr) {
  std::ostringstream out;
  auto r = export_jsonl(store, format, filter, out);
  if (!r) FAIL(r.error().describe());
  if (stats) *stats = *r;
  return out.str();
}

}  // namespace

TEST_CASE("export format names parse, unknown names are an error") {
  CHECK(parse_export_format("sft").value() == ExportFormat::sft);
  CHECK(parse_export_format("dpo").value() == ExportFormat::dpo);
  CHECK(parse_export_format("kto").value() == ExportFormat::kto);
  CHECK(parse_export_format("llamafactory-sft").value() == ExportFormat::llamafactory_sft);
  CHECK(parse_export_format("llamafactory-dpo").value() == ExportFormat::llamafactory_dpo);
  auto bad = parse_export_format("alpaca");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("alpaca"));
}

TEST_CASE("exporting an empty store writes no rows and no error") {
  Fixture f;
  for (auto format : {ExportFormat::sft, ExportFormat::dpo, ExportFormat::kto}) {
    ExportStats stats;
    CHECK(export_text(*f.store, format, {}, &stats).empty());
    CHECK(stats.rows == 0);
    CHECK(stats.runs == 0);
  }
  for (auto format : {ExportFormat::llamafactory_sft, ExportFormat::llamafactory_dpo}) {
    auto stats = export_llamafactory(*f.store, format, {}, f.dir.file("lf"));
    REQUIRE(stats.ok());
    CHECK(stats->rows == 0);
  }
  CHECK(troupe::testing::read_file(f.dir.file("lf/troupe_sft.jsonl")).empty());
}

TEST_CASE("each export function rejects the formats of the other") {
  Fixture f;
  std::ostringstream out;
  CHECK(export_jsonl(*f.store, ExportFormat::llamafactory_sft, {}, out).error().code == ErrorCode::invalid_argument);
  CHECK(export_llamafactory(*f.store, ExportFormat::sft, {}, f.dir.file("lf")).error().code ==
        ErrorCode::invalid_argument);
}

TEST_CASE("sft exports the steps labelled good as TRL messages") {
  Fixture f;
  f.add_run("run-1", "math", 1000);
  f.add_run("run-2", "math", 2000);
  ExportStats stats;
  auto lines = lines_of(export_text(*f.store, ExportFormat::sft, {}, &stats));
  REQUIRE(lines.size() == 2);
  CHECK(stats.rows == 2);
  CHECK(stats.runs == 2);
  simdjson::dom::parser parser;
  for (size_t i = 0; i < lines.size(); ++i) {
    simdjson::dom::object row = parser.parse(lines[i]);
    CHECK(keys_of(row) == std::set<std::string>{"messages"});
    simdjson::dom::array messages = row["messages"];
    check_messages(messages);
    REQUIRE(messages.size() == 3);
    CHECK(str(messages.at(0)["role"]) == "system");
    CHECK(str(messages.at(1)["role"]) == "user");
    CHECK(str(messages.at(1)["content"]) == "What is 2+2?");
    CHECK(str(messages.at(2)["role"]) == "assistant");
    CHECK(str(messages.at(2)["content"]) == "run-" + std::to_string(i + 1) + " good");
  }
}

TEST_CASE("sft appends a continued assistant message's completion to it") {
  Fixture f;
  StepRecord step = sample_step("run-1", 0, {{"user", "Q"}, {"assistant", "Let me think. "}});
  step.completion = "It is 4.";
  step.label = true;
  REQUIRE(f.store->write({step}, {}, {sample_run("run-1")}).ok());
  auto lines = lines_of(export_text(*f.store, ExportFormat::sft));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        R"({"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"Let me think. It is 4."}]})");
}

TEST_CASE("kto exports every labelled step with TRL's prompt, completion and label") {
  Fixture f;
  f.add_run("run-1", "math", 1000);
  auto lines = lines_of(export_text(*f.store, ExportFormat::kto));
  REQUIRE(lines.size() == 2);
  simdjson::dom::parser parser;
  std::vector<bool> labels;
  for (const auto& line : lines) {
    simdjson::dom::object row = parser.parse(line);
    CHECK(keys_of(row) == std::set<std::string>{"prompt", "completion", "label"});
    check_messages(row["prompt"]);
    simdjson::dom::array completion = row["completion"];
    check_messages(completion);
    REQUIRE(completion.size() == 1);
    CHECK(str(completion.at(0)["role"]) == "assistant");
    labels.push_back(bool(row["label"]));
    CHECK(str(completion.at(0)["content"]) == (labels.back() ? "run-1 good" : "run-1 bad"));
  }
  CHECK(labels == std::vector<bool>{true, false});
}

TEST_CASE("dpo exports pairs with TRL's prompt, chosen and rejected") {
  Fixture f;
  f.add_run("run-1", "math", 1000);
  auto lines = lines_of(export_text(*f.store, ExportFormat::dpo));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        R"({"prompt":[{"role":"system","content":"You are careful."},{"role":"user","content":"What is 2+2?"}],)"
        R"("chosen":[{"role":"assistant","content":"It is 4."}],"rejected":[{"role":"assistant","content":"It is 5."}]})");
  simdjson::dom::parser parser;
  simdjson::dom::object row = parser.parse(lines[0]);
  CHECK(keys_of(row) == std::set<std::string>{"prompt", "chosen", "rejected"});
}

TEST_CASE("the workflow and since filters select runs and pairs") {
  Fixture f;
  f.add_run("run-1", "math", 1000);
  f.add_run("run-2", "logic", 2000);
  f.add_run("run-3", "math", 3000);
  ExportStats stats;
  CHECK(lines_of(export_text(*f.store, ExportFormat::sft, {"math", std::nullopt, ""}, &stats)).size() == 2);
  CHECK(stats.runs == 2);
  CHECK(lines_of(export_text(*f.store, ExportFormat::sft, {"", 2000, ""}, &stats)).size() == 2);
  auto both = lines_of(export_text(*f.store, ExportFormat::kto, {"math", 2000, ""}, &stats));
  CHECK(both.size() == 2);
  CHECK(stats.runs == 1);
  CHECK_THAT(both[0], Catch::Contains("run-3 good"));
  CHECK(export_text(*f.store, ExportFormat::sft, {"mat", std::nullopt, ""}).empty());
  CHECK(lines_of(export_text(*f.store, ExportFormat::dpo, {"math", 1001, ""}, &stats)).size() == 1);
  CHECK(stats.runs == 1);
  CHECK(lines_of(export_text(*f.store, ExportFormat::dpo, {"logic", std::nullopt, ""})).size() == 1);
}

TEST_CASE("a corrupt step makes export stop with the error naming its key") {
  Fixture f;
  f.add_run("run-1", "math", 1000);
  const std::string path = f.store->path();
  f.store.reset();
  REQUIRE(troupe::memory::testing::write_raw(path, "steps", step_key("run-1", 1), "garbage").ok());
  auto store = Store::open(path).value();
  std::ostringstream out;
  auto r = export_jsonl(*store, ExportFormat::sft, {}, out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::parse);
  CHECK_THAT(r.error().message, Catch::Contains("run-1#1"));
}

TEST_CASE("a failing output stream is an io error") {
  Fixture f;
  f.add_run("run-1", "math", 1000);
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  auto r = export_jsonl(*f.store, ExportFormat::sft, {}, out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::io);
}

TEST_CASE("a run_id filter exports that run's steps and pairs only, with the other filters still applied") {
  Fixture f;
  f.add_run("run-a", "wf", 1000);
  f.add_run("run-b", "wf", 2000);
  ExportFilter only_a;
  only_a.run_id = "run-a";
  ExportStats stats;
  auto sft = lines_of(export_text(*f.store, ExportFormat::sft, only_a, &stats));
  REQUIRE(sft.size() == 1);
  CHECK(sft[0].find("run-a good") != std::string::npos);
  CHECK(stats.runs == 1);
  auto kto = export_text(*f.store, ExportFormat::kto, only_a);
  CHECK(kto.find("run-a bad") != std::string::npos);
  CHECK(kto.find("run-b") == std::string::npos);
  auto dpo = lines_of(export_text(*f.store, ExportFormat::dpo, only_a, &stats));
  CHECK(dpo.size() == 1);
  CHECK(stats.runs == 1);
  // Combined with another filter the run must match both.
  only_a.workflow = "other";
  CHECK(export_text(*f.store, ExportFormat::sft, only_a).empty());
  CHECK(export_text(*f.store, ExportFormat::dpo, only_a).empty());
  only_a.workflow = "wf";
  only_a.since_ms = 1500;
  CHECK(export_text(*f.store, ExportFormat::sft, only_a).empty());
  // An unknown run: no rows, no error.
  ExportFilter missing;
  missing.run_id = "run-nope";
  CHECK(export_text(*f.store, ExportFormat::sft, missing, &stats).empty());
  CHECK(stats.runs == 0);
}
