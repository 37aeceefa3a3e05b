// export_rl_jsonl: the RL shapes (rollouts, verl, sft-turns); docs/export.md
// describes every field.
#include <cmath>
#include <map>
#include <optional>
#include <ostream>

#include "common/json_writer.hpp"
#include "memory/export_scan.hpp"
#include "memory/step_json.hpp"

namespace troupe::memory {
namespace {

// A step that is a model call: it has a finish reason (steps a pipeline
// records itself, e.g. decisions, have none) and was not made by a tool
// role (backend "tool/NAME": LeaP's router, IAD's verifiers).
bool is_model_call(const StepRecord& s) { return !s.finish_reason.empty() && s.backend.rfind("tool/", 0) != 0; }

std::optional<double> run_reward(const RunRecord& run) {
  if (!run.correct) return std::nullopt;
  return *run.correct ? 1.0 : 0.0;
}

// The outcome reward when the run has one, else the step's own judgement:
// its score, else its verdict, else its label.
std::optional<double> turn_reward(const RunRecord& run, const StepRecord& s) {
  if (auto r = run_reward(run)) return r;
  if (s.score && std::isfinite(*s.score)) return *s.score;
  if (s.verdict) return *s.verdict ? 1.0 : 0.0;
  if (s.label) return *s.label ? 1.0 : 0.0;
  return std::nullopt;
}

void write_opt_number(JsonWriter& w, const char* key, std::optional<double> v) {
  w.key(key);
  if (v) write_logprob(w, *v);
  else w.null();
}

void write_ids(JsonWriter& w, const char* key, const std::vector<int32_t>& ids) {
  w.key(key).begin_array();
  for (int32_t id : ids) w.value(id);
  w.end_array();
}

bool has_prefix(const std::vector<int32_t>& ids, const std::vector<int32_t>& prefix, size_t prefix_len) {
  return prefix_len <= ids.size() && std::equal(prefix.begin(), prefix.begin() + static_cast<std::ptrdiff_t>(prefix_len), ids.begin());
}

// 1 for tokens the policy sampled: this turn's completion, and each
// ancestor turn's completion that this prompt continues token-exactly
// (the ancestor's prompt + completion ids are a prefix of this prompt).
std::vector<int> loss_mask(const StepRecord& s, const std::map<uint64_t, const StepRecord*>& by_seq) {
  std::vector<int> mask(s.prompt_token_ids.size() + s.completion_token_ids.size(), 0);
  for (size_t i = s.prompt_token_ids.size(); i < mask.size(); ++i) mask[i] = 1;
  std::vector<uint64_t> todo = s.parents;
  std::map<uint64_t, bool> seen;
  while (!todo.empty()) {
    uint64_t seq = todo.back();
    todo.pop_back();
    if (seen[seq]) continue;
    seen[seq] = true;
    auto it = by_seq.find(seq);
    if (it == by_seq.end()) continue;
    const StepRecord& a = *it->second;
    todo.insert(todo.end(), a.parents.begin(), a.parents.end());
    if (a.completion_token_ids.empty() || a.prompt_token_ids.empty()) continue;
    const size_t end = a.prompt_token_ids.size() + a.completion_token_ids.size();
    if (end > s.prompt_token_ids.size() || !has_prefix(s.prompt_token_ids, a.prompt_token_ids, a.prompt_token_ids.size()))
      continue;
    if (!std::equal(a.completion_token_ids.begin(), a.completion_token_ids.end(),
                    s.prompt_token_ids.begin() + static_cast<std::ptrdiff_t>(a.prompt_token_ids.size())))
      continue;
    for (size_t i = a.prompt_token_ids.size(); i < end; ++i) mask[i] = 1;
  }
  return mask;
}

std::string rollout_row(const RunRecord& run, const std::vector<StepRecord>& steps) {
  std::map<uint64_t, const StepRecord*> by_seq;
  for (const auto& s : steps) by_seq[s.seq] = &s;
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("run_id", run.id)
      .field("item_id", run.item_id)
      .field("workflow", run.workflow)
      .field("pipeline", run.pipeline)
      .field("status", to_string(run.status))
      .field("gold", run.gold)
      .field("answer", run.answer);
  w.key("correct");
  if (run.correct) w.value(*run.correct);
  else w.null();
  write_opt_number(w, "reward", run_reward(run));
  w.key("turns").begin_array();
  for (const auto& s : steps) {
    if (!is_model_call(s)) continue;
    w.begin_object()
        .field("seq", static_cast<unsigned long long>(s.seq))
        .field("role", s.role)
        .field("kind", s.kind);
    w.key("parents").begin_array();
    for (uint64_t p : s.parents) w.value(static_cast<unsigned long long>(p));
    w.end_array();
    write_ids(w, "prompt_ids", s.prompt_token_ids);
    write_ids(w, "completion_ids", s.completion_token_ids);
    w.key("logprobs").begin_array();
    for (double v : s.token_logprobs) write_logprob(w, v);
    w.end_array().key("loss_mask").begin_array();
    for (int m : loss_mask(s, by_seq)) w.value(m);
    w.end_array();
    write_opt_number(w, "reward", turn_reward(run, s));
    w.key("verdict");
    if (s.verdict) w.value(*s.verdict);
    else w.null();
    write_opt_number(w, "score", s.score);
    w.key("label");
    if (s.label) w.value(*s.label);
    else w.null();
    w.field("completion", s.completion).field("finish_reason", s.finish_reason).field("backend", s.backend);
    w.key("sampling");
    raw_json_or_null(w, s.sampling_json);
    w.key("tokens_unavailable").begin_array();
    for (const auto& u : s.tokens_unavailable) w.value(u);
    w.end_array().field("token_info", s.token_info).end_object();
  }
  w.end_array().end_object();
  return out;
}

// The prompt the policy was first given: the first model call's messages,
// without an unfinished assistant message at the end (a prefill).
const StepRecord* first_call(const std::vector<StepRecord>& steps) {
  for (const auto& s : steps)
    if (is_model_call(s) && !s.prompt.empty()) return &s;
  return nullptr;
}

std::string verl_row(const RunRecord& run, const StepRecord& first, size_t index) {
  std::vector<Message> prompt = first.prompt;
  if (prompt.size() > 1 && prompt.back().role == "assistant") prompt.pop_back();
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("data_source", run.workflow.empty() ? std::string("troupe") : run.workflow);
  w.key("prompt").begin_array();
  for (const auto& m : prompt) w.begin_object().field("role", m.role).field("content", m.content).end_object();
  w.end_array().field("ability", run.pipeline);
  w.key("reward_model").begin_object().field("style", "rule").field("ground_truth", run.gold).end_object();
  w.key("extra_info")
      .begin_object()
      .field("split", "train")
      .field("index", static_cast<unsigned long long>(index))
      .field("run_id", run.id)
      .field("item_id", run.item_id)
      .field("answer", run.answer);
  w.key("correct");
  if (run.correct) w.value(*run.correct);
  else w.null();
  w.end_object().end_object();
  return out;
}

std::string sft_turn_row(const RunRecord& run, const StepRecord& s) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("messages").begin_array();
  for (const auto& m : s.prompt)
    w.begin_object().field("role", m.role).field("content", m.content).field("train", false).end_object();
  w.begin_object().field("role", "assistant").field("content", s.completion).field("train", true).end_object();
  w.end_array().field("run_id", run.id).field("seq", static_cast<unsigned long long>(s.seq)).end_object();
  return out;
}

}  // namespace

Result<ExportStats> export_rl_jsonl(Store& store, ExportFormat format, const ExportFilter& filter, std::ostream& out) {
  ExportStats stats;
  detail::RowWriter emit(out, stats);
  Status st;
  switch (format) {
    case ExportFormat::rollouts:
      st = detail::for_each_run_steps(store, filter, stats, [&](const RunRecord& run, const std::vector<StepRecord>& steps) {
        return emit(rollout_row(run, steps));
      });
      break;
    case ExportFormat::verl:
      st = detail::for_each_run_steps(store, filter, stats, [&](const RunRecord& run, const std::vector<StepRecord>& steps) {
        const StepRecord* first = first_call(steps);
        if (run.gold.empty() || !first) {
          ++stats.skipped;
          return Status();
        }
        return emit(verl_row(run, *first, stats.rows));
      });
      break;
    case ExportFormat::sft_turns:
      st = detail::for_each_run_steps(store, filter, stats, [&](const RunRecord& run, const std::vector<StepRecord>& steps) {
        for (const auto& s : steps) {
          if (!is_model_call(s) || (s.label && !*s.label)) continue;
          if (auto r = emit(sft_turn_row(run, s)); !r) return r;
        }
        return Status();
      });
      break;
    default:
      return Error(ErrorCode::invalid_argument,
                   std::string("export_rl_jsonl does not write '") + to_string(format) + "'");
  }
  if (!st) return st.error();
  return stats;
}

}  // namespace troupe::memory
