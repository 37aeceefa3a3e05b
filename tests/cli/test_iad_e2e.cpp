// IAD end to end: `troupe run` on the in-process engine with the
// stories260K checkpoint (an LLM judge and a critic that cannot score, so
// every candidate scores 0 after its reply fails to parse), and through the
// HTTP backend against a server on the same engine (a command verifier),
// then `troupe export`. Checks the trajectory's structure — steps per kind,
// parent links, labels, pairs — not the tiny model's text. Skips when
// ../shared/models/stories260K is absent (TROUPE_SHARED_DIR in the
// environment overrides the location).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
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

std::string stories(const std::string& file) {
  const char* env = std::getenv("TROUPE_SHARED_DIR");
  return std::string(env && *env ? env : TROUPE_SHARED_DIR) + "/models/stories260K/" + file;
}

bool have_stories() { return std::ifstream(stories("stories260K.bin")).good() && std::ifstream(stories("tok512.bin")).good(); }

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
    if (!line.empty()) ++n;
  return n;
}

// What one IAD run's trajectory holds, checked for the structure every IAD
// run has: each score step's parent is a candidate; a round after the
// first has the feedback's inputs (candidates, the critique) as parents.
struct Shape {
  std::map<std::string, size_t> kinds;
  size_t pairs = 0, labelled = 0;
};

Shape check_run(memory::Store& store, const memory::RunRecord& run, bool critique) {
  Shape shape;
  auto steps = store.read_steps(run.id);
  REQUIRE(steps.ok());
  std::map<uint64_t, std::string> kind_of;
  for (const auto& s : *steps) {
    kind_of[s.seq] = s.kind;
    ++shape.kinds[s.kind];
    if (s.label) ++shape.labelled;
    if (s.kind == "candidate") {
      CHECK(s.role == "solver");
      for (uint64_t p : s.parents) {
        REQUIRE(kind_of.count(p) == 1);  // parents come earlier
        CHECK((kind_of[p] == "candidate" || kind_of[p] == "critique"));
      }
      if (!s.parents.empty()) {
        CHECK(s.prompt.back().content.find("Best response so far") != std::string::npos);
        if (critique) CHECK(kind_of[s.parents.back()] == "critique");
      }
    } else if (s.kind == "score") {
      CHECK(s.role == "verifier");
      REQUIRE(s.parents.size() == 1);
      CHECK(kind_of[s.parents[0]] == "candidate");
    } else if (s.kind == "critique") {
      CHECK(s.role == "critic");
      REQUIRE(s.parents.size() == 1);
      CHECK(kind_of[s.parents[0]] == "candidate");
    } else {
      FAIL("unexpected step kind " << s.kind);
    }
  }
  REQUIRE(store.for_each_pair([&](const memory::PairRecord& p) {
    if (p.run_id == run.id) ++shape.pairs;
    return true;
  }).ok());
  return shape;
}

}  // namespace

TEST_CASE("troupe run: IAD on the local engine with stories260K records candidates, scores and critiques", "[cli][e2e][local]") {
  if (!have_stories()) {
    WARN("../shared/models/stories260K is absent: skipping the IAD local-engine run");
    return;
  }
  TempDir dir;
  std::string wf = "name: iad-local\npipeline: iad\nbackend:\n  kind: local\n  model_file: " + stories("stories260K.bin") +
                   "\n  tokenizer: " + stories("tok512.bin") +
                   "\n  chat_template: chatml\n  threads: 1\n  kv_mb: 16\n"
                   "roles:\n"
                   "  solver: {sampling: {temperature: 0.8, max_tokens: 12}}\n"
                   "  verifier: {sampling: {temperature: 0.0, max_tokens: 8}, parse_retries: 0}\n"
                   "  critic: {sampling: {temperature: 0.0, max_tokens: 8}}\n"
                   "params: {candidates: 2, rounds: 1, verifier: judge, critique: true, seed: 3}\n"
                   "concurrency: 1\n";
  write_file(dir.file("wf.yaml"), wf);
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --question 'What is 17 + 25?' --db " +
                      shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  size_t runs = 0, labelled = 0;
  {
    auto store = open_store(db);
    REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
      ++runs;
      CHECK(run.status == memory::RunStatus::succeeded);
      CHECK(run.pipeline == "iad");
      Shape s = check_run(*store, run, true);
      // The tiny model writes no "Score: X/10": every candidate scores 0,
      // so both rounds run, one critique sits between them, and every
      // candidate is labelled bad; equal scores make no pair.
      CHECK(s.kinds["candidate"] == 4);
      CHECK(s.kinds["score"] == 4);
      CHECK(s.kinds["critique"] == 1);
      CHECK(s.labelled == 4);
      CHECK(s.pairs == 0);
      labelled += s.labelled;
      return true;
    }).ok());
  }
  CHECK(runs == 1);
  auto kto = run_troupe("export --db " + shell_quote(db) + " --format kto --out " + shell_quote(dir.file("kto.jsonl")));
  INFO(kto.output);
  REQUIRE(kto.exit_code == 0);
  CHECK(count_lines(read_file(dir.file("kto.jsonl"))) == labelled);
}

TEST_CASE("troupe run: IAD through the HTTP backend against troupe serve on the local engine", "[cli][e2e][local]") {
  if (!have_stories()) {
    WARN("../shared/models/stories260K is absent: skipping the IAD run against troupe serve");
    return;
  }
  TempDir dir;
  engine::local::LocalEngineOptions lo;
  lo.model_path = stories("stories260K.bin");
  lo.tokenizer_path = stories("tok512.bin");
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
  // A command verifier: the fraction of words longer than three letters,
  // so candidates score differently and pairs appear.
  write_file(dir.file("score.sh"),
             "tr -s ' \\n' '\\n\\n' | awk 'NF { print (length($0) > 3 ? \"PASS\" : \"FAIL\") }'\n");
  std::string iad = "name: iad-http\npipeline: iad\nbackend: {kind: http, url: " + server.base_url() +
                    ", model: stories260K, api: chat, timeout_s: 60}\n"
                    "roles:\n  solver: {sampling: {temperature: 0.9, max_tokens: 16}}\n"
                    "params:\n  candidates: 2\n  rounds: 1\n  verifier: command\n"
                    "  verifier_command: " + shell_quote("sh " + dir.file("score.sh")) + "\n"
                    "  verifier_timeout_s: 5\n  seed: 11\n"
                    "concurrency: 4\n";
  std::string bon = iad;
  bon.replace(bon.find("name: iad-http"), 14, "name: bon-http");
  bon.replace(bon.find("  seed: 11"), 10, "  mode: best_of_n\n  seed: 11");
  write_file(dir.file("iad.yaml"), iad);
  write_file(dir.file("bon.yaml"), bon);
  std::string db = dir.file("db");
  write_file(dir.file("items.jsonl"),
             "{\"id\": \"a\", \"question\": \"What is 17 + 25?\"}\n{\"id\": \"b\", \"question\": \"What is 6 * 7?\"}\n");
  std::string input = shell_quote(dir.file("items.jsonl"));
  auto r = run_troupe("run " + shell_quote(dir.file("iad.yaml")) + " --input " + input + " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto b = run_troupe("run " + shell_quote(dir.file("bon.yaml")) + " --input " + input + " --db " + shell_quote(db));
  INFO(b.output);
  REQUIRE(b.exit_code == 0);

  size_t pairs = 0;
  std::map<std::string, size_t> samples, scores;
  {
    auto store = open_store(db);
    size_t runs = 0;
    REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
      ++runs;
      CHECK(run.status == memory::RunStatus::succeeded);
      Shape s = check_run(*store, run, false);
      CHECK(s.kinds["critique"] == 0);
      CHECK(s.kinds["score"] == s.kinds["candidate"]);
      if (run.workflow == "bon-http") CHECK(s.kinds["candidate"] == 4);  // N*(T+1), always
      else CHECK((s.kinds["candidate"] == 2 || s.kinds["candidate"] == 4));  // early stop at 1.0
      samples[run.workflow] += s.kinds["candidate"];
      scores[run.workflow] += s.kinds["score"];
      pairs += s.pairs;
      return true;
    }).ok());
    CHECK(runs == 4);
  }
  CHECK(samples["bon-http"] == 8);
  CHECK(samples["iad-http"] <= samples["bon-http"]);
  CHECK(pairs > 0);
  auto dpo = run_troupe("export --db " + shell_quote(db) + " --format dpo --out " + shell_quote(dir.file("dpo.jsonl")));
  INFO(dpo.output);
  REQUIRE(dpo.exit_code == 0);
  CHECK(count_lines(read_file(dir.file("dpo.jsonl"))) == pairs);
  // `troupe runs` lists both workflows' runs for comparison.
  auto runs = run_troupe("runs --db " + shell_quote(db));
  CHECK(runs.exit_code == 0);
  CHECK(runs.output.find("iad-http") != std::string::npos);
  CHECK(runs.output.find("bon-http") != std::string::npos);
}
