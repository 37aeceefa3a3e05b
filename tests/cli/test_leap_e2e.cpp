// LeaP end to end through the troupe binary: the scripted demo, the
// in-process engine on stories260K, and the same model behind `troupe
// serve`'s HTTP API. The local runs check structure (what was recorded and
// how it links up), since a 260K-parameter story model cannot reason.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "cli_harness.hpp"
#include "engine/local/local_backend.hpp"
#include "engine/serve/openai_server.hpp"
#include "memory/store.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using troupe::testing::read_file;
using troupe::testing::run_troupe;
using troupe::testing::shell_quote;
using troupe::testing::TempDir;
using troupe::testing::write_file;

namespace {

const std::string kSource = TROUPE_SOURCE_DIR;
const std::string kModelDir = std::string(TROUPE_SHARED_DIR) + "/models/stories260K";

bool have_stories() { return std::filesystem::exists(kModelDir + "/stories260K.bin"); }

std::unique_ptr<memory::Store> open_store(const std::string& path) {
  memory::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto s = memory::Store::open(path, o);
  REQUIRE(s.ok());
  return std::move(s.value());
}

size_t count_lines(const std::string& text) {
  std::stringstream ss(text);
  std::string line;
  size_t n = 0;
  while (std::getline(ss, line))
    if (!line.empty() && line.rfind("troupe:", 0) != 0) ++n;
  return n;
}

// Checks one LeaP run of `paths` paths over `segments` segments (no path can
// finish early: the model never writes </think>): the steps of each kind and
// how they link. Returns the kinds seen.
std::map<std::string, size_t> check_leap_run(memory::Store& store, const memory::RunRecord& run, size_t paths) {
  CHECK(run.status == memory::RunStatus::succeeded);
  auto steps = store.read_steps(run.id);
  REQUIRE(steps.ok());
  std::map<std::string, size_t> kinds;
  std::map<uint64_t, const memory::StepRecord*> by_seq;
  for (const auto& s : *steps) {
    ++kinds[s.kind];
    by_seq[s.seq] = &s;
  }
  CHECK(kinds["segment"] == 2 * paths);  // max_turns 2
  CHECK(kinds["summary"] == paths);
  CHECK(kinds["route"] == paths);
  CHECK(kinds["answer"] == paths);
  CHECK(kinds["path"] == paths);
  for (const auto& s : *steps) {
    for (auto p : s.parents) REQUIRE(by_seq.count(p) == 1);
    if (s.kind == "segment") {
      CHECK(s.role == "solver");
      if (!s.parents.empty()) {
        REQUIRE(s.parents.size() == 2);
        CHECK(by_seq[s.parents[0]]->kind == "summary");
        CHECK(by_seq[s.parents[1]]->kind == "route");
      }
    } else if (s.kind == "summary") {
      REQUIRE(s.parents.size() == 1);
      CHECK(by_seq[s.parents[0]]->kind == "segment");
      CHECK(s.prompt.back().role == "assistant");
      CHECK(s.prompt.back().content.find("<summarize>") != std::string::npos);
    } else if (s.kind == "route") {
      CHECK(s.role == "peer");
      CHECK(s.parents.size() == paths);  // its own summary and the others'
      simdjson::dom::parser parser;
      simdjson::dom::element doc = parser.parse(s.completion);
      CHECK(simdjson::dom::array(doc["peers"]).size() == 1);  // top_k 1
    } else if (s.kind == "answer") {
      REQUIRE(s.parents.size() == 1);
      CHECK(by_seq[s.parents[0]]->kind == "segment");
    } else if (s.kind == "path") {
      REQUIRE(s.parents.size() == 1);
      CHECK(by_seq[s.parents[0]]->kind == "answer");
      CHECK(s.completion.find("<comment>") != std::string::npos);
      CHECK(s.label.has_value());  // gold is known
    }
  }
  // Segment 1 is one call for all paths: its steps share the prompt and
  // only the first carries the prompt tokens.
  CHECK((*steps)[0].prompt_tokens > 0);
  return kinds;
}

void check_exports(const std::string& db, TempDir& dir) {
  auto sft = run_troupe("export --db " + shell_quote(db) + " --format sft --out " + shell_quote(dir.file("sft.jsonl")));
  INFO(sft.output);
  CHECK(sft.exit_code == 0);
  auto kto = run_troupe("export --db " + shell_quote(db) + " --format kto --out " + shell_quote(dir.file("kto.jsonl")));
  INFO(kto.output);
  CHECK(kto.exit_code == 0);
  CHECK(count_lines(read_file(dir.file("kto.jsonl"))) >= 4);  // every path transcript is labelled
  auto dpo = run_troupe("export --db " + shell_quote(db) + " --format dpo --out " + shell_quote(dir.file("dpo.jsonl")));
  CHECK(dpo.exit_code == 0);
}

}  // namespace

TEST_CASE("troupe run: the LeaP demo on the scripted backend, peers correct a slip", "[cli][e2e]") {
  TempDir dir;
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(kSource + "/examples/leap.yaml") + " --input " +
                      shell_quote(kSource + "/examples/data/leap.jsonl") + " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("2/2 (100.0%)") != std::string::npos);
  {
    auto store = open_store(db);
    size_t runs = 0;
    REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
      ++runs;
      CHECK(run.status == memory::RunStatus::succeeded);
      CHECK(run.answer == "42");
      return true;
    }).ok());
    CHECK(runs == 2);
  }
  // add-1: path C said 41, read its peers, answered 42: that segment is a
  // good example; mul-1: two paths answered 48, so two correct-over-wrong
  // pairs per correct path.
  auto sft = run_troupe("export --db " + shell_quote(db) + " --format sft --out " + shell_quote(dir.file("sft.jsonl")));
  REQUIRE(sft.exit_code == 0);
  std::string sft_text = read_file(dir.file("sft.jsonl"));
  CHECK(sft_text.find("A peer found 12 for the units") != std::string::npos);
  auto dpo = run_troupe("export --db " + shell_quote(db) + " --format dpo --out " + shell_quote(dir.file("dpo.jsonl")));
  REQUIRE(dpo.exit_code == 0);
  CHECK(count_lines(read_file(dir.file("dpo.jsonl"))) == 4);  // mul-1: {A, C} x {B, D}
}

TEST_CASE("troupe run: LeaP on the local engine (stories260K)", "[cli][e2e][local]") {
  if (!have_stories()) {
    WARN("../shared/models/stories260K is absent: skipping the LeaP local-engine run");
    return;
  }
  TempDir dir;
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(kSource + "/examples/leap-local.yaml") + " --input " +
                      shell_quote(kSource + "/examples/data/leap.jsonl") + " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  {
    auto store = open_store(db);
    size_t runs = 0;
    REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
      ++runs;
      CHECK(run.workflow == "leap-local");
      check_leap_run(*store, run, 2);
      return true;
    }).ok());
    CHECK(runs == 2);
  }
  check_exports(db, dir);
}

TEST_CASE("troupe run: LeaP through the HTTP backend against troupe serve on the local engine", "[cli][e2e][local]") {
  if (!have_stories()) {
    WARN("../shared/models/stories260K is absent: skipping the LeaP HTTP run");
    return;
  }
  TempDir dir;
  engine::local::LocalEngineOptions lo;
  lo.model_path = kModelDir + "/stories260K.bin";
  lo.tokenizer_path = kModelDir + "/tok512.bin";
  lo.chat_template = "chatml";
  lo.threads = 1;
  lo.kv_budget_bytes = size_t{16} << 20;
  auto local = engine::local::make_local_backend(lo);
  REQUIRE(local.ok());
  std::shared_ptr<engine::Backend> backend(std::move(local.value()));
  engine::OpenAIServer::Options so;
  so.model = "stories260K";
  engine::OpenAIServer server(backend, so);
  REQUIRE(server.start().ok());

  std::string wf = read_file(kSource + "/examples/leap-local.yaml");
  auto from = wf.find("backend:\n");
  auto to = wf.find("store:\n");
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  wf.replace(from, to - from, "backend: {kind: http, url: " + server.base_url() + ", model: stories260K, api: chat}\n");
  write_file(dir.file("wf.yaml"), wf);
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " +
                      shell_quote(kSource + "/examples/data/leap.jsonl") + " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  {
    auto store = open_store(db);
    size_t runs = 0;
    REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
      ++runs;
      auto kinds = check_leap_run(*store, run, 2);
      auto steps = store->read_steps(run.id);
      REQUIRE(steps.ok());
      for (const auto& s : *steps)
        if (s.role == "solver") CHECK(s.backend == "http:stories260K");
      return true;
    }).ok());
    CHECK(runs == 2);
  }
  check_exports(db, dir);
}
