// Chain-of-Clarifications end to end: `troupe run` on the in-process
// engine with the stories260K checkpoint (tiny token limits, a short
// context), in inference and tree mode, then the same inference run through
// the HTTP backend against an OpenAI-compatible server over the local
// engine. The model's text is meaningless; the checks are about structure:
// which roles were called in which order, parent links, and what export
// writes. Skips (with a warning) when ../shared/models is absent.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
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

// TROUPE_SHARED_DIR in the environment overrides the build's ../shared
// (a worktree may sit elsewhere than next to shared/).
std::string shared(const std::string& rel) {
  const char* env = std::getenv("TROUPE_SHARED_DIR");
  return std::string(env && *env ? env : TROUPE_SHARED_DIR) + "/" + rel;
}

bool have_stories() {
  std::ifstream f(shared("models/stories260K/stories260K.bin"));
  if (!f) WARN("../shared/models/stories260K is absent (set TROUPE_SHARED_DIR): skipping");
  return static_cast<bool>(f);
}

const char* kInput =
    "{\"id\": \"lily\", \"question\": \"Who had a ball?\", \"answer\": \"Lily\", \"context\": \"Lily had a "
    "ball. Tom was sad.\"}\n";

// Short templates, a short context and 6-token replies keep every prompt
// inside the model's 512-token context. The llama2 chat template is used
// because its turn markers cost far fewer of tok512's tokens than chatml's:
// the self-check's 12-message chat does not fit with chatml.
std::string workflow(const std::string& backend, const std::string& params) {
  return "name: coc-e2e\npipeline: coc\nbackend:\n" + backend +
         "roles:\n"
         "  clarifier: {template: \"Ask about: {question}\", sampling: {temperature: 1.0, top_p: 0.95, max_tokens: 6, seed: 1}}\n"
         "  grounder: {template: \"Q: {question} C: {chunk} yes or no?\", sampling: {temperature: 0.2, max_tokens: 6, seed: 1}}\n"
         "  solver: {template: \"Now answer: {question}\", sampling: {temperature: 0.2, max_tokens: 6, seed: 1}}\n"
         "  verifier: {template: \"Right? JSON.\", sampling: {temperature: 0.2, max_tokens: 6, seed: 1}, parse_retries: 0}\n"
         "params: {" + params + ", chunk_tokens: 5, system_prompt: \"Be brief.\"}\n"
         "concurrency: 1\n";
}

std::string local_backend() {
  return "  kind: local\n  model_file: " + shared("models/stories260K/stories260K.bin") +
         "\n  tokenizer: " + shared("models/stories260K/tok512.bin") +
         "\n  chat_template: llama2\n  model: stories260K\n  threads: 1\n  kv_mb: 16\n";
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  return s;
}

std::unique_ptr<memory::Store> open_store(const std::string& path) {
  memory::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto s = memory::Store::open(path, o);
  REQUIRE(s.ok());
  return std::move(s.value());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// The one run in `db`, and its steps.
std::pair<memory::RunRecord, std::vector<memory::StepRecord>> the_run(memory::Store& store) {
  std::vector<memory::RunRecord> runs;
  REQUIRE(store.for_each_run(std::nullopt, [&](const memory::RunRecord& r) {
    runs.push_back(r);
    return true;
  }).ok());
  REQUIRE(runs.size() == 1);
  auto steps = store.read_steps(runs[0].id);
  REQUIRE(steps.ok());
  return {runs[0], *steps};
}

// Inference with 2 questions and 1 round over 2 chunks: 2 clarify steps
// from one call, 2 x 2 relevance checks, the clarification answer, the
// final answer, the self-check.
void check_inference_trace(const memory::RunRecord& run, const std::vector<memory::StepRecord>& s,
                           const std::string& backend_label) {
  CHECK(run.status == memory::RunStatus::succeeded);
  CHECK(run.pipeline == "coc");
  REQUIRE(s.size() == 9);
  std::vector<std::string> kinds;
  for (const auto& x : s) kinds.push_back(x.role + "/" + x.kind);
  CHECK(kinds == std::vector<std::string>{"clarifier/clarify", "clarifier/clarify", "grounder/relevance",
                                          "grounder/relevance", "grounder/relevance", "grounder/relevance",
                                          "solver/clarification_answer", "solver/final_answer",
                                          "verifier/self_check"});
  // Both questions came from one call: the same prompt.
  REQUIRE(s[0].prompt.size() == s[1].prompt.size());
  for (size_t i = 0; i < s[0].prompt.size(); ++i) CHECK(s[0].prompt[i].content == s[1].prompt[i].content);
  CHECK(s[0].sampling_json.find("\"n\":2") != std::string::npos);
  // The four relevance checks go out together; the engine may finish them
  // in any order, so their seqs follow completion. The answer's parents
  // list them question-major: two for question 1 (step 0), two for step 1.
  const auto& rel = s[6].parents;
  REQUIRE(rel.size() == 4);
  CHECK(std::set<uint64_t>(rel.begin(), rel.end()) == std::set<uint64_t>{2, 3, 4, 5});
  for (size_t k = 0; k < 4; ++k) CHECK(s[rel[k]].parents == std::vector<uint64_t>{k / 2});
  CHECK(s[7].parents == std::vector<uint64_t>{6});
  CHECK(s[8].parents == std::vector<uint64_t>{7});
  // The opening turn holds the context as <para i> chunks.
  REQUIRE(s[0].prompt.size() == 3);
  CHECK(s[0].prompt[1].content == "<para 0> Lily had a ball. </para 0>\n<para 1> Tom was sad. </para 1>\n\nWho had a ball?");
  CHECK(s[0].prompt_tokens > 0);
  for (const auto& x : s) CHECK(x.backend == backend_label);
  // The run's answer is the final answer, trimmed.
  CHECK(run.answer == trim(s[7].completion));
}

}  // namespace

TEST_CASE("troupe run: CoC inference on the local engine (stories260K)", "[cli][e2e][local]") {
  if (!have_stories()) return;
  TempDir dir;
  write_file(dir.file("wf.yaml"), workflow(local_backend(), "questions: 2, max_rounds: 1"));
  write_file(dir.file("in.jsonl"), kInput);
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " + shell_quote(dir.file("in.jsonl")) +
                      " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto store = open_store(db);
  auto [run, steps] = the_run(*store);
  check_inference_trace(run, steps, "local:stories260K");
}

TEST_CASE("troupe run: CoC tree mode on the local engine records scored nodes and exports them", "[cli][e2e][local]") {
  if (!have_stories()) return;
  TempDir dir;
  write_file(dir.file("wf.yaml"), workflow(local_backend(), "mode: tree, width: 2, depth: 1"));
  write_file(dir.file("in.jsonl"), kInput);
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " + shell_quote(dir.file("in.jsonl")) +
                      " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  size_t labelled_good = 0, pairs = 0;
  {
    auto store = open_store(db);
    auto [run, s] = the_run(*store);
    CHECK(run.status == memory::RunStatus::succeeded);
    // Root: 2 relevance, answer, self-check, node; one expansion of width
    // 2: 2 clarify, 2 x 2 relevance, 2 answers, 2 finals, 2 checks, 2 nodes.
    REQUIRE(s.size() == 5 + 14);
    std::vector<uint64_t> nodes;
    for (const auto& x : s) {
      if (x.kind == "node") nodes.push_back(x.seq);
      if (x.label == std::optional<bool>(true)) ++labelled_good;
    }
    CHECK(nodes == std::vector<uint64_t>{4, 17, 18});
    for (uint64_t n : nodes) {
      CHECK(s[n].role == "judge");
      double score = std::stod(s[n].answer);
      CHECK(score >= 0.0);
      CHECK(score <= 1.0);
    }
    // A child's record is its training-format conversation: the root's
    // three turns and seven more; the final answer completes it.
    REQUIRE(s[17].prompt.size() == 10);
    CHECK(s[17].prompt[5].content == "Help me find relevant context to answer the previous clarifying question.");
    CHECK(s[17].completion == trim(s[s[17].parents.at(0)].completion));
    CHECK(s[s[17].parents.at(0)].kind == "final_answer");
    REQUIRE(store->for_each_pair([&](const memory::PairRecord& p) {
      ++pairs;
      CHECK(p.run_id == run.id);
      return true;
    }).ok());
  }
  // Export writes exactly the labelled steps (sft) and the pairs (dpo).
  auto sft = run_troupe("export --db " + shell_quote(db) + " --format sft --out " + shell_quote(dir.file("sft.jsonl")));
  REQUIRE(sft.exit_code == 0);
  auto sft_lines = lines_of(read_file(dir.file("sft.jsonl")));
  CHECK(sft_lines.size() == labelled_good);
  simdjson::dom::parser parser;
  for (const auto& line : sft_lines) {
    simdjson::dom::array msgs = parser.parse(line)["messages"].get_array();
    CHECK(msgs.size() == 11);  // a depth-2 node's conversation, answer included
  }
  auto dpo = run_troupe("export --db " + shell_quote(db) + " --format dpo --out " + shell_quote(dir.file("dpo.jsonl")));
  REQUIRE(dpo.exit_code == 0);
  CHECK(lines_of(read_file(dir.file("dpo.jsonl"))).size() == pairs);
}

TEST_CASE("troupe run: CoC through the HTTP backend against troupe serve on the local engine", "[cli][e2e][local]") {
  if (!have_stories()) return;
  TempDir dir;
  engine::local::LocalEngineOptions lo;
  lo.model_path = shared("models/stories260K/stories260K.bin");
  lo.tokenizer_path = shared("models/stories260K/tok512.bin");
  lo.chat_template = "llama2";
  lo.threads = 1;
  lo.kv_budget_bytes = size_t{16} << 20;
  auto local = engine::local::make_local_backend(lo);
  REQUIRE(local.ok());
  std::shared_ptr<engine::Backend> backend(std::move(local.value()));
  engine::OpenAIServer::Options so;
  so.model = "stories260K";
  engine::OpenAIServer server(backend, so);
  REQUIRE(server.start().ok());
  std::string http = "  kind: http\n  url: " + server.base_url() + "\n  model: stories260K\n  timeout_s: 60\n";
  write_file(dir.file("wf.yaml"), workflow(http, "questions: 2, max_rounds: 1"));
  write_file(dir.file("in.jsonl"), kInput);
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " + shell_quote(dir.file("in.jsonl")) +
                      " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto store = open_store(db);
  auto [run, steps] = the_run(*store);
  check_inference_trace(run, steps, "http:stories260K");
}
