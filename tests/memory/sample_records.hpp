// Builders for the records used by the memory tests: every field set to a
// distinctive value, so a round trip that drops or swaps a field shows.
#pragma once

#include <string>
#include <vector>

#include "memory/store.hpp"

namespace troupe::memory::test {

inline std::vector<Message> sample_prompt(const std::string& question = "What is 2+2?") {
  return {{"system", "You are careful."}, {"user", question}};
}

inline RunRecord sample_run(const std::string& id, const std::string& workflow = "math",
                            int64_t created_ms = 1000) {
  RunRecord r;
  r.id = id;
  r.workflow = workflow;
  r.workflow_hash = "abc123";
  r.pipeline = "spoc";
  r.item_id = "item-7";
  r.input_json = R"({"id":"item-7","question":"2+2"})";
  r.gold = "4";
  r.status = RunStatus::succeeded;
  r.answer = "4";
  r.correct = false;
  r.error = "";
  r.metrics_json = R"({"calls":3})";
  r.created_ms = created_ms;
  r.updated_ms = created_ms + 5;
  return r;
}

inline StepRecord sample_step(const std::string& run_id, uint64_t seq,
                              std::vector<Message> prompt = sample_prompt()) {
  StepRecord s;
  s.run_id = run_id;
  s.seq = seq;
  s.role = "solver";
  s.kind = "generate";
  s.parents = seq > 0 ? std::vector<uint64_t>{seq - 1} : std::vector<uint64_t>{};
  s.prompt = std::move(prompt);
  s.completion = "The answer is " + std::to_string(seq);
  s.answer = std::to_string(seq);
  s.prompt_tokens = 10;
  s.cached_prompt_tokens = 4;
  s.completion_tokens = 6;
  s.finish_reason = "stop";
  s.latency_ms = 12.5;
  s.backend = "scripted";
  s.sampling_json = R"({"temperature":0.7})";
  s.meta_json = "";
  s.created_ms = 2000 + static_cast<int64_t>(seq);
  return s;
}

inline PairRecord sample_pair(const std::string& id, const std::string& run_id,
                              const std::string& workflow = "math", int64_t created_ms = 3000) {
  PairRecord p;
  p.id = id;
  p.run_id = run_id;
  p.workflow = workflow;
  p.prompt = sample_prompt();
  p.chosen = "It is 4.";
  p.rejected = "It is 5.";
  p.source_steps = {1, 2};
  p.reason = "verifier";
  p.margin = 0.75;
  p.created_ms = created_ms;
  return p;
}

}  // namespace troupe::memory::test
