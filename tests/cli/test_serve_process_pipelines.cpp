// The four pipelines of issue 5 through the HTTP backend against a real
// `troupe serve` process (not the in-process server the per-pipeline e2e
// tests use) on stories260K. stories260K writes children's stories, so
// what is checked is structure: every run succeeds over HTTP, records the
// step kinds its pipeline makes, and exports.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>

#include "cli_harness.hpp"
#include "troupe_process.hpp"
#include "memory/store.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using troupe::testing::run_troupe;
using troupe::testing::shell_quote;
using troupe::testing::TempDir;
using troupe::testing::write_file;

namespace {

const std::string kModelDir = std::string(TROUPE_SHARED_DIR) + "/models/stories260K";

struct Case {
  std::string pipeline;
  std::string body;                 // roles and params
  std::set<std::string> kinds;      // step kinds every run must have
};

std::vector<Case> cases() {
  return {
      {"leap",
       "roles:\n  solver: {sampling: {temperature: 0.6, top_p: 0.95, max_tokens: 32, seed: 1}}\n"
       "params: {paths: 2, segment_tokens: 12, max_turns: 2, summary_tokens: 6, answer_tokens: 6, top_k: 1,\n"
       "  instruction: \" Summarize in <summarize> </summarize>.\", prefill: \"I will summarize.\\n\\n\",\n"
       "  answer_prefix: \"\\n\\nAnswer: \\\\boxed{\"}\n",
       {"segment", "summary", "route", "answer"}},
      {"iad",
       "roles:\n  solver: {template: \"{question}{feedback}\", sampling: {temperature: 0.8, max_tokens: 12}}\n"
       "  verifier: {template: \"Score {solution}\", sampling: {temperature: 0.0, max_tokens: 6}, parse_retries: 0}\n"
       "params: {candidates: 2, rounds: 1, verifier: judge, early_stop: false}\n",
       {"candidate", "score"}},
      {"archon",
       "roles:\n  generator: {sampling: {temperature: 0.7, max_tokens: 8, seed: 1}}\n"
       "  fuser: {sampling: {temperature: 0.7, max_tokens: 8, seed: 1}}\n"
       "params:\n  layers:\n    - [{type: generator, samples: 2}]\n    - [{type: fuser}]\n",
       {"generator", "fuser"}},
      {"coc",
       "roles:\n"
       "  clarifier: {template: \"Ask about: {question}\", sampling: {temperature: 1.0, max_tokens: 6, seed: 1}}\n"
       "  grounder: {template: \"Q: {question} C: {chunk} yes or no?\", sampling: {temperature: 0.2, max_tokens: 6, seed: 1}}\n"
       "  solver: {template: \"Now answer: {question}\", sampling: {temperature: 0.2, max_tokens: 6, seed: 1}}\n"
       "  verifier: {template: \"Right? JSON.\", sampling: {temperature: 0.2, max_tokens: 6, seed: 1}, parse_retries: 0}\n"
       "params: {questions: 1, max_rounds: 1, chunk_tokens: 5, system_prompt: \"Be brief.\"}\n",
       {"clarify", "relevance", "clarification_answer", "final_answer"}},
  };
}

}  // namespace

TEST_CASE("troupe run: LeaP, IAD, Archon and CoC over HTTP against a troupe serve process on stories260K",
          "[cli][e2e][local][serve]") {
  if (!std::filesystem::exists(kModelDir + "/stories260K.bin")) {
    WARN("../shared/models/stories260K is absent: skipped");
    return;
  }
  // llama2's turn markers are the shortest in tok512, which keeps CoC's
  // growing chat inside the model's 512-token context.
  troupe::testing::TroupeProcess serve("serve", {kModelDir + "/stories260K.bin", "--tokenizer", kModelDir + "/tok512.bin", "--chat-template",
                      "llama2", "--model-name", "stories260K", "--port", "0", "--threads", "1", "--kv-mb", "32"},
                                       "troupe serve: http://127\\.0\\.0\\.1:([0-9]+)");
  TempDir dir;
  write_file(dir.file("in.jsonl"),
             "{\"id\": \"lily\", \"question\": \"Who had a ball?\", \"answer\": \"Lily\", "
             "\"context\": \"Lily had a ball. Tom was sad.\"}\n");
  for (const auto& c : cases()) {
    DYNAMIC_SECTION(c.pipeline) {
      std::string wf = "name: " + c.pipeline + "-serve\npipeline: " + c.pipeline +
                       "\nbackend: {kind: http, url: \"" + serve.url() + "\", model: stories260K, timeout_s: 60}\n" +
                       c.body + "concurrency: 1\n";
      write_file(dir.file(c.pipeline + ".yaml"), wf);
      std::string db = dir.file(c.pipeline + ".db");
      auto r = run_troupe("run " + shell_quote(dir.file(c.pipeline + ".yaml")) + " --input " +
                          shell_quote(dir.file("in.jsonl")) + " --db " + shell_quote(db));
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
      {
        memory::StoreOptions o;
        o.read_only = true;
        o.create_if_missing = false;
        auto store = memory::Store::open(db, o);
        REQUIRE(store.ok());
        std::vector<memory::RunRecord> runs;
        REQUIRE((*store)->for_each_run(std::nullopt, [&](const memory::RunRecord& x) {
          runs.push_back(x);
          return true;
        }).ok());
        REQUIRE(runs.size() == 1);
        CHECK(runs[0].status == memory::RunStatus::succeeded);
        auto steps = (*store)->read_steps(runs[0].id);
        REQUIRE(steps.ok());
        std::set<std::string> kinds;
        for (const auto& s : *steps) {
          kinds.insert(s.kind);
          if (s.role != "peer" && s.backend.rfind("tool/", 0) != 0 && s.kind != "layer" && s.kind != "final" &&
              s.kind != "node" && s.kind != "path" && s.kind != "route")
            CHECK(s.backend.find("http") != std::string::npos);
          for (uint64_t p : s.parents) CHECK(p < s.seq);
        }
        std::string seen;
        for (const auto& k : kinds) seen += k + " ";
        INFO("kinds recorded: " << seen);
        for (const auto& k : c.kinds) {
          INFO("step kind " << k);
          CHECK(kinds.count(k) == 1);
        }
      }
      auto ex = run_troupe("export --db " + shell_quote(db) + " --format sft --out " +
                           shell_quote(dir.file(c.pipeline + ".sft.jsonl")));
      INFO(ex.output);
      CHECK(ex.exit_code == 0);
    }
  }
}
