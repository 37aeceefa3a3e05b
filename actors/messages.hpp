// The messages actors exchange, and the CAF 0.17 type-ID block that
// registers every one of them (call add_message_types() on the config
// before creating the actor_system). All message types are plain data with
// an inspect() overload; errors travel as values inside them (ok/error
// fields) so that a failed model call is data a pipeline can act on, and a
// CAF error (actor down, request timeout) means the runtime itself failed.
// GenerateRequest's on_delta callback is a local-only field: inspect()
// leaves it out, and these messages never leave the process.
#pragma once

#include <caf/all.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "memory/store.hpp"

namespace troupe::actors {

// A request from a pipeline to a role actor.
struct RoleTask {
  std::string run_id;
  std::string request_id;  // unique; the director cancels by run id
  std::map<std::string, std::string> vars;  // template variables: question, solution, ...
  std::vector<memory::Message> history;     // appended after the rendered prompt
  int n = 1;
  int64_t max_tokens = 0;  // 0 = the role's own limit; the director clips it to the budget
  // Per-call overrides of the role's settings (pipelines whose steps differ
  // in sampling, e.g. LeaP's summaries or Archon's per-component models).
  bool continue_final = false;        // history ends with an unfinished assistant message to continue
  std::vector<std::string> stop;      // added to the role's stop strings
  std::optional<double> temperature;  // replaces the role's temperature
  std::optional<int64_t> seed;        // replaces the role's seed
  std::string model;                  // replaces the role's backend model ("" = keep)
  // When non-empty, the prompt is exactly these messages: the role's system
  // prompt and template are not used (the conversation is the pipeline's).
  std::vector<memory::Message> messages;
};

// One sampled output of a role, parsed.
struct Candidate {
  std::string text;
  std::string answer;        // extracted final answer ("" = none)
  int verdict = -1;          // verifier: 1 yes, 0 no, -1 none/unparsable
  std::string finish;        // stop | length | cancelled | error
  std::string stop_string;   // the stop string that ended it (finish == stop), "" for EOS
  // What the model sampled, token-exact, as the backend reported it (empty
  // when it did not; `unavailable` then names what is missing).
  std::vector<int32_t> token_ids;
  std::vector<double> logprobs;     // the sampled tokens' logprobs, one per token id
  std::string top_logprobs_json;    // [[{"token":..,"logprob":..},..],..] when top-k was asked
  std::vector<std::string> unavailable;  // "prompt_token_ids", "completion_token_ids", "logprobs"
};

// A role's reply: the prompt it sent, the candidates, and what it cost.
struct RoleOutput {
  bool ok = true;
  int error_code = 0;        // troupe::ErrorCode when !ok
  std::string error;
  std::string role;
  std::vector<memory::Message> prompt;
  std::vector<Candidate> candidates;
  int64_t calls = 0;         // model calls made (parse retries included)
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double latency_ms = 0;
  std::string backend;       // kind/model
  std::string sampling_json;
  std::vector<int32_t> prompt_token_ids;  // the prompt as the model saw it, when reported
  std::string token_info;                 // engine::GenerateResult::token_info
};

// The engine gateway's reply to a generate request.
struct GenerateOutcome {
  bool ok = true;
  int error_code = 0;
  int http_status = 0;
  std::string error;
  engine::GenerateResult result;
};

// A unit of work for the store writer; applied in one WriteBatch
// (possibly together with other units queued at the same time).
struct StoreWrite {
  std::vector<memory::StepRecord> steps;
  std::vector<memory::PairRecord> pairs;
  std::vector<memory::RunRecord> runs;
  std::vector<memory::CallRecord> calls;  // durable runs' call journal
};

struct StoreAck {
  bool ok = true;
  std::string error;
};

// What a finished run reports to whoever started it.
struct RunOutcome {
  std::string run_id;
  std::string item_id;
  std::string status;  // succeeded | failed | cancelled
  std::string answer;
  int correct = -1;    // 1/0 when the input had a gold answer, else -1
  std::string error;
  int64_t calls = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t steps = 0;
  int64_t pairs = 0;
  double wall_ms = 0;
  int64_t replayed_calls = 0;  // durable runs: role calls answered from the journal
};

// inspect() for std::optional fields, CAF 0.17 style: a flag, then the value.
template <class T>
struct OptionalField {
  std::optional<T>& ref;
};

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, OptionalField<T>& x) {
  if constexpr (Inspector::reads_state) {
    bool has = x.ref.has_value();
    T value = has ? *x.ref : T{};
    return f(has, value);
  } else {
    bool has = false;
    T value{};
    auto guard = caf::detail::make_scope_guard([&] {
      if (has) x.ref = std::move(value);
      else x.ref.reset();
    });
    return f(has, value);
  }
}

template <class T>
OptionalField<T> opt(std::optional<T>& x) {
  return {x};
}

}  // namespace troupe::actors

// inspect() overloads live in the namespace of the type they describe (ADL).
namespace troupe::engine {
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ChatMessage& x) {
  return f(caf::meta::type_name("chat_message"), x.role, x.content);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SamplingParams& x) {
  auto temperature = actors::opt(x.temperature);
  auto top_p = actors::opt(x.top_p);
  auto seed = actors::opt(x.seed);
  return f(caf::meta::type_name("sampling_params"), x.n, temperature, top_p, x.top_k, x.min_p, seed,
           x.max_tokens, x.stop, x.logprobs);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GenerateRequest& x) {
  return f(caf::meta::type_name("generate_request"), x.id, x.model, x.kind, x.messages, x.prompt,
           x.continue_final_message, x.sampling, x.return_token_ids);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TopLogprob& x) {
  return f(caf::meta::type_name("top_logprob"), x.token, x.logprob);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TokenLogprob& x) {
  return f(caf::meta::type_name("token_logprob"), x.token, x.logprob, x.top);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Choice& x) {
  return f(caf::meta::type_name("choice"), x.index, x.text, x.token_ids, x.logprobs, x.finish,
           x.stop_string, x.error);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Usage& x) {
  return f(caf::meta::type_name("usage"), x.prompt_tokens, x.cached_prompt_tokens, x.completion_tokens);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GenerateResult& x) {
  return f(caf::meta::type_name("generate_result"), x.request_id, x.model, x.choices, x.usage,
           x.latency_ms, x.attempts, x.prompt_token_ids, x.token_info);
}
}  // namespace troupe::engine

namespace troupe::memory {
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Message& x) {
  return f(caf::meta::type_name("message"), x.role, x.content);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RunRecord& x) {
  auto correct = actors::opt(x.correct);
  return f(caf::meta::type_name("run_record"), x.id, x.workflow, x.workflow_hash, x.pipeline, x.item_id,
           x.input_json, x.gold, x.status, x.answer, correct, x.error, x.metrics_json, x.created_ms,
           x.updated_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepRecord& x) {
  auto verdict = actors::opt(x.verdict);
  auto score = actors::opt(x.score);
  auto label = actors::opt(x.label);
  return f(caf::meta::type_name("step_record"), x.run_id, x.seq, x.role, x.kind, x.parents, x.prompt,
           x.completion, x.answer, verdict, score, label, x.prompt_tokens, x.cached_prompt_tokens,
           x.completion_tokens, x.finish_reason, x.latency_ms, x.backend, x.sampling_json, x.meta_json,
           x.created_ms, x.prompt_token_ids, x.completion_token_ids, x.token_logprobs, x.top_logprobs_json,
           x.tokens_unavailable, x.token_info);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, CallCandidate& x) {
  return f(caf::meta::type_name("call_candidate"), x.text, x.answer, x.verdict, x.finish, x.stop_string);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, CallRecord& x) {
  return f(caf::meta::type_name("call_record"), x.run_id, x.key, x.request_id, x.role, x.ok, x.error_code,
           x.error, x.prompt, x.candidates, x.calls, x.prompt_tokens, x.cached_prompt_tokens,
           x.completion_tokens, x.latency_ms, x.backend, x.sampling_json, x.step_seqs, x.created_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PairRecord& x) {
  return f(caf::meta::type_name("pair_record"), x.id, x.run_id, x.workflow, x.prompt, x.chosen, x.rejected,
           x.source_steps, x.reason, x.margin, x.created_ms);
}
}  // namespace troupe::memory

namespace troupe::actors {
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RoleTask& x) {
  auto temperature = opt(x.temperature);
  auto seed = opt(x.seed);
  return f(caf::meta::type_name("role_task"), x.run_id, x.request_id, x.vars, x.history, x.n, x.max_tokens,
           x.continue_final, x.stop, temperature, seed, x.model, x.messages);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Candidate& x) {
  return f(caf::meta::type_name("candidate"), x.text, x.answer, x.verdict, x.finish, x.stop_string, x.token_ids,
           x.logprobs, x.top_logprobs_json, x.unavailable);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RoleOutput& x) {
  return f(caf::meta::type_name("role_output"), x.ok, x.error_code, x.error, x.role, x.prompt, x.candidates,
           x.calls, x.prompt_tokens, x.cached_prompt_tokens, x.completion_tokens, x.latency_ms, x.backend,
           x.sampling_json, x.prompt_token_ids, x.token_info);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GenerateOutcome& x) {
  return f(caf::meta::type_name("generate_outcome"), x.ok, x.error_code, x.http_status, x.error, x.result);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StoreWrite& x) {
  return f(caf::meta::type_name("store_write"), x.steps, x.pairs, x.runs, x.calls);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StoreAck& x) {
  return f(caf::meta::type_name("store_ack"), x.ok, x.error);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RunOutcome& x) {
  return f(caf::meta::type_name("run_outcome"), x.run_id, x.item_id, x.status, x.answer, x.correct, x.error,
           x.calls, x.prompt_tokens, x.completion_tokens, x.steps, x.pairs, x.wall_ms, x.replayed_calls);
}
}  // namespace troupe::actors

CAF_BEGIN_TYPE_ID_BLOCK(troupe, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(troupe, (troupe::engine::GenerateRequest))
  CAF_ADD_TYPE_ID(troupe, (troupe::engine::GenerateResult))
  CAF_ADD_TYPE_ID(troupe, (troupe::actors::RoleTask))
  CAF_ADD_TYPE_ID(troupe, (troupe::actors::RoleOutput))
  CAF_ADD_TYPE_ID(troupe, (troupe::actors::GenerateOutcome))
  CAF_ADD_TYPE_ID(troupe, (troupe::actors::StoreWrite))
  CAF_ADD_TYPE_ID(troupe, (troupe::actors::StoreAck))
  CAF_ADD_TYPE_ID(troupe, (troupe::actors::RunOutcome))
  CAF_ADD_ATOM(troupe, troupe::actors, generate_atom, "generate")
  CAF_ADD_ATOM(troupe, troupe::actors, generated_atom, "generated")
  CAF_ADD_ATOM(troupe, troupe::actors, cancel_run_atom, "cancelrun")
  CAF_ADD_ATOM(troupe, troupe::actors, flush_atom, "flush")
  CAF_ADD_ATOM(troupe, troupe::actors, start_atom, "start")
  CAF_ADD_ATOM(troupe, troupe::actors, cancel_atom, "cancel")
  CAF_ADD_ATOM(troupe, troupe::actors, wall_timeout_atom, "walltime")
  CAF_ADD_ATOM(troupe, troupe::actors, stored_atom, "stored")
  CAF_ADD_ATOM(troupe, troupe::actors, replay_atom, "replay")
CAF_END_TYPE_ID_BLOCK(troupe)

namespace troupe::actors {
// Registers every message type above with a CAF config.
inline void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::troupe>();
}
}  // namespace troupe::actors
