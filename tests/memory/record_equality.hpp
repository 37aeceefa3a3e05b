// Field-by-field checks that two records are equal, one CHECK per field so a
// failing round trip names the field.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>

#include "memory/store.hpp"

namespace troupe::memory::test {

inline void check_same_messages(const std::vector<Message>& a, const std::vector<Message>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].role == b[i].role);
    CHECK(a[i].content == b[i].content);
  }
}

inline void check_same(const RunRecord& a, const RunRecord& b) {
  CHECK(a.id == b.id);
  CHECK(a.workflow == b.workflow);
  CHECK(a.workflow_hash == b.workflow_hash);
  CHECK(a.pipeline == b.pipeline);
  CHECK(a.item_id == b.item_id);
  CHECK(a.input_json == b.input_json);
  CHECK(a.gold == b.gold);
  CHECK(a.status == b.status);
  CHECK(a.answer == b.answer);
  CHECK(a.correct == b.correct);
  CHECK(a.error == b.error);
  CHECK(a.metrics_json == b.metrics_json);
  CHECK(a.created_ms == b.created_ms);
  CHECK(a.updated_ms == b.updated_ms);
  CHECK(a.origin == b.origin);
}

inline void check_same(const StepRecord& a, const StepRecord& b) {
  CHECK(a.run_id == b.run_id);
  CHECK(a.seq == b.seq);
  CHECK(a.role == b.role);
  CHECK(a.kind == b.kind);
  CHECK(a.parents == b.parents);
  check_same_messages(a.prompt, b.prompt);
  CHECK(a.completion == b.completion);
  CHECK(a.answer == b.answer);
  CHECK(a.verdict == b.verdict);
  CHECK(a.score == b.score);
  CHECK(a.label == b.label);
  CHECK(a.prompt_tokens == b.prompt_tokens);
  CHECK(a.cached_prompt_tokens == b.cached_prompt_tokens);
  CHECK(a.completion_tokens == b.completion_tokens);
  CHECK(a.finish_reason == b.finish_reason);
  CHECK(a.latency_ms == b.latency_ms);
  CHECK(a.backend == b.backend);
  CHECK(a.sampling_json == b.sampling_json);
  CHECK(a.meta_json == b.meta_json);
  CHECK(a.created_ms == b.created_ms);
  CHECK(a.prompt_token_ids == b.prompt_token_ids);
  CHECK(a.completion_token_ids == b.completion_token_ids);
  REQUIRE(a.token_logprobs.size() == b.token_logprobs.size());
  for (size_t i = 0; i < a.token_logprobs.size(); ++i) {
    // Stored as float32; NaN (no logprob) stays NaN.
    const double x = a.token_logprobs[i], y = b.token_logprobs[i];
    if (std::isnan(x) || std::isnan(y)) CHECK(std::isnan(x) == std::isnan(y));
    else CHECK(static_cast<float>(x) == static_cast<float>(y));
  }
  CHECK(a.top_logprobs_json == b.top_logprobs_json);
  CHECK(a.tokens_unavailable == b.tokens_unavailable);
  CHECK(a.token_info == b.token_info);
}

inline void check_same(const PairRecord& a, const PairRecord& b) {
  CHECK(a.id == b.id);
  CHECK(a.run_id == b.run_id);
  CHECK(a.workflow == b.workflow);
  check_same_messages(a.prompt, b.prompt);
  CHECK(a.chosen == b.chosen);
  CHECK(a.rejected == b.rejected);
  CHECK(a.source_steps == b.source_steps);
  CHECK(a.reason == b.reason);
  CHECK(a.margin == b.margin);
  CHECK(a.created_ms == b.created_ms);
}

}  // namespace troupe::memory::test
