// Archon end to end: `troupe run` with a small layout on the local engine
// (the stories260K checkpoint in ../shared/models), in process and through
// the HTTP backend against an OpenAI-compatible server on the same engine;
// then the store's steps and `troupe export`. stories260K writes children's
// stories, not answers: these tests check structure, not content.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <algorithm>
#include <cstdlib>
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

// The stories260K folder, or "" when absent. TROUPE_SHARED_DIR in the
// environment overrides the build's ../shared (for worktrees elsewhere).
std::string stories_dir() {
  std::string shared = TROUPE_SHARED_DIR;
  if (const char* env = std::getenv("TROUPE_SHARED_DIR"); env && *env) shared = env;
  std::filesystem::path dir = std::filesystem::path(shared) / "models" / "stories260K";
  std::error_code ec;
  if (!std::filesystem::exists(dir / "stories260K.bin", ec) || !std::filesystem::exists(dir / "tok512.bin", ec))
    return "";
  return dir.string();
}

// Generators (2 samples + 1) -> ranker (top 2) -> fuser, with tiny outputs.
std::string workflow(const std::string& backend) {
  return "name: archon-e2e\npipeline: archon\n" + backend +
         "roles:\n"
         "  generator: {sampling: {temperature: 0.8, max_tokens: 8, seed: 1}}\n"
         "  ranker: {sampling: {temperature: 0.0, max_tokens: 8}}\n"
         "  fuser: {sampling: {temperature: 0.0, max_tokens: 8}}\n"
         "params:\n"
         "  layers: [[{type: generator, samples: 2}, {type: generator, temperature: 0.5}], [{type: ranker, top_k: 2}],"
         " [{type: fuser}]]\n"
         "  seed: 5\n"
         "concurrency: 2\n";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty() && line.rfind("troupe:", 0) != 0) out.push_back(line);
  return out;
}

std::unique_ptr<memory::Store> open_store(const std::string& path) {
  memory::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto s = memory::Store::open(path, o);
  REQUIRE(s.ok());
  return std::move(s.value());
}

// Runs the workflow over two arithmetic items and checks every run's
// trajectory: the layer structure, parents, the final choice, and that
// `export --format kto` yields one labelled row per candidate step.
void run_and_check(const std::string& wf_text, const std::string& backend_label) {
  TempDir dir;
  write_file(dir.file("wf.yaml"), wf_text);
  // Two items with gold keep the test short.
  write_file(dir.file("in.jsonl"), "{\"id\": \"add-1\", \"question\": \"What is 17 + 25?\", \"answer\": \"42\"}\n"
                                   "{\"id\": \"mul-1\", \"question\": \"What is 6 * 7?\", \"answer\": 42}\n");
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " + shell_quote(dir.file("in.jsonl")) +
                      " --output " +
                      shell_quote(dir.file("results.jsonl")) + " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(lines_of(read_file(dir.file("results.jsonl"))).size() == 2);
  {
    auto store = open_store(db);
    size_t runs = 0;
    REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
      ++runs;
      CHECK(run.status == memory::RunStatus::succeeded);
      CHECK(run.pipeline == "archon");
      auto steps = store->read_steps(run.id);
      REQUIRE(steps.ok());
      std::vector<std::string> kinds;
      for (const auto& s : *steps) kinds.push_back(s.kind);
      REQUIRE(kinds == std::vector<std::string>{"generator", "generator", "generator", "layer", "ranker", "layer",
                                                "fuser", "layer", "final"});
      const auto& st = *steps;
      for (size_t i = 0; i < 3; ++i) {
        CHECK(st[i].role == "generator");
        CHECK(st[i].parents.empty());
        CHECK(st[i].backend == backend_label);
        CHECK(st[i].completion_tokens <= 8);
      }
      CHECK(st[0].prompt_tokens > 0);
      CHECK(st[3].role == "orchestrator");
      std::vector<uint64_t> gens{0, 1, 2};
      // The ranker read all three candidates (in component order, whichever
      // call answered first) and kept two; the fuser read those two.
      auto sorted = st[4].parents;
      std::sort(sorted.begin(), sorted.end());
      CHECK(sorted == gens);
      REQUIRE(st[6].parents.size() == 2);
      for (auto p : st[6].parents) CHECK(p < 3);
      CHECK(st[8].parents == std::vector<uint64_t>{6});
      // One candidate remains: it is the answer.
      std::string fused = st[6].answer.empty() ? st[6].completion : st[6].answer;
      CHECK(run.answer == fused);
      CHECK(st[8].answer == fused);
      return true;
    }).ok());
    CHECK(runs == 2);
  }
  auto kto = run_troupe("export --db " + shell_quote(db) + " --format kto");
  REQUIRE(kto.exit_code == 0);
  simdjson::dom::parser parser;
  size_t rows = 0;
  for (const auto& line : lines_of(kto.output)) {
    simdjson::dom::object row = parser.parse(line).get_object();
    CHECK(row["label"].is_bool());
    ++rows;
  }
  CHECK(rows == 8);  // with gold, each of 4 candidate steps (3 generated, 1 fused) per item is labelled
}

}  // namespace

TEST_CASE("troupe run: Archon on the local engine (stories260K) records its layers and exports", "[cli][e2e][local]") {
  std::string dir = stories_dir();
  if (dir.empty()) {
    WARN("../shared/models/stories260K is absent (set TROUPE_SHARED_DIR): skipping");
    return;
  }
  std::string backend = "backend: {kind: local, model_file: " + dir + "/stories260K.bin, tokenizer: " + dir +
                        "/tok512.bin, chat_template: chatml, model: stories260K, threads: 1, kv_mb: 16}\n";
  run_and_check(workflow(backend), "local:stories260K");
}

TEST_CASE("troupe run: Archon through the HTTP backend against troupe serve on the local engine",
          "[cli][e2e][local]") {
  std::string dir = stories_dir();
  if (dir.empty()) {
    WARN("../shared/models/stories260K is absent (set TROUPE_SHARED_DIR): skipping");
    return;
  }
  engine::local::LocalEngineOptions lo;
  lo.model_path = dir + "/stories260K.bin";
  lo.tokenizer_path = dir + "/tok512.bin";
  lo.chat_template = "chatml";
  lo.threads = 1;
  auto local = engine::local::make_local_backend(lo);
  REQUIRE(local.ok());
  std::shared_ptr<engine::Backend> backend(std::move(local.value()));
  engine::OpenAIServer::Options so;
  so.model = "stories260K";
  engine::OpenAIServer server(backend, so);
  REQUIRE(server.start().ok());
  run_and_check(workflow("backend: {kind: http, url: " + server.base_url() + ", model: stories260K}\n"),
                "http:stories260K");
}
