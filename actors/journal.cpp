#include "actors/journal.hpp"

#include <charconv>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/json_writer.hpp"

namespace troupe::actors {
namespace {

void write_messages(JsonWriter& w, const std::vector<memory::Message>& messages) {
  w.begin_array();
  for (const auto& m : messages) w.begin_object().field("role", m.role).field("content", m.content).end_object();
  w.end_array();
}

void write_strings(JsonWriter& w, const std::vector<std::string>& values) {
  w.begin_array();
  for (const auto& v : values) w.value(v);
  w.end_array();
}

}  // namespace

std::string role_identity(const RoleSpec& spec) {
  std::string out;
  JsonWriter w(out);
  const auto& s = spec.sampling;
  w.begin_object()
      .field("backend", spec.backend_label)
      .field("model", spec.model)
      .field("kind", static_cast<int>(spec.kind))
      .field("parse_retries", spec.parse_retries)
      .field("system_sha256", sha256_hex(spec.system))
      .field("template_sha256", sha256_hex(spec.template_text));
  w.key("sampling").begin_object().field("n", s.n);
  if (s.temperature) w.field("temperature", *s.temperature);
  if (s.top_p) w.field("top_p", *s.top_p);
  w.field("top_k", s.top_k).field("min_p", s.min_p);
  if (s.seed) w.field("seed", static_cast<long long>(*s.seed));
  w.field("max_tokens", s.max_tokens).field("logprobs", s.logprobs);
  w.field("repetition_penalty", s.repetition_penalty)
      .field("frequency_penalty", s.frequency_penalty)
      .field("presence_penalty", s.presence_penalty);
  w.key("stop");
  write_strings(w, s.stop);
  w.end_object().end_object();
  return out;
}

std::string call_content_hash(const std::string& role, const std::string& identity, const RoleTask& task,
                              const StepInfo& info) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("role", role).field("identity", identity);
  w.key("vars").begin_object();
  for (const auto& [k, v] : task.vars) w.field(k, v);  // std::map: sorted, so canonical
  w.end_object();
  w.key("history");
  write_messages(w, task.history);
  w.key("messages");
  write_messages(w, task.messages);
  w.field("n", task.n).field("max_tokens", static_cast<long long>(task.max_tokens));
  w.field("continue_final", task.continue_final);
  w.key("stop");
  write_strings(w, task.stop);
  if (task.temperature) w.field("temperature", *task.temperature);
  if (task.seed) w.field("seed", static_cast<long long>(*task.seed));
  w.field("model", task.model);
  w.field("kind", info.kind);
  w.key("parents").begin_array();
  for (uint64_t p : info.parents) w.value(static_cast<unsigned long long>(p));
  w.end_array();
  w.end_object();
  return sha256_hex(out);
}

std::string journal_key(const std::string& content_hash, int64_t occurrence) {
  return content_hash + "#" + std::to_string(occurrence);
}

memory::CallRecord to_call_record(const std::string& run_id, const std::string& key, const std::string& request_id,
                                  const RoleOutput& out, const std::vector<uint64_t>& step_seqs) {
  memory::CallRecord c;
  c.run_id = run_id;
  c.key = key;
  c.request_id = request_id;
  c.role = out.role;
  c.ok = out.ok;
  c.error_code = out.error_code;
  c.error = out.error;
  c.prompt = out.prompt;
  for (const auto& cand : out.candidates)
    c.candidates.push_back({cand.text, cand.answer, cand.verdict, cand.finish, cand.stop_string});
  c.calls = out.calls;
  c.prompt_tokens = out.prompt_tokens;
  c.cached_prompt_tokens = out.cached_prompt_tokens;
  c.completion_tokens = out.completion_tokens;
  c.latency_ms = out.latency_ms;
  c.backend = out.backend;
  c.sampling_json = out.sampling_json;
  c.step_seqs = step_seqs;
  c.created_ms = now_unix_ms();
  return c;
}

RoleOutput from_call_record(const memory::CallRecord& c) {
  RoleOutput out;
  out.ok = c.ok;
  out.error_code = c.error_code;
  out.error = c.error;
  out.role = c.role;
  out.prompt = c.prompt;
  for (const auto& cand : c.candidates) {
    Candidate back;
    back.text = cand.text;
    back.answer = cand.answer;
    back.verdict = cand.verdict;
    back.finish = cand.finish;
    back.stop_string = cand.stop_string;
    out.candidates.push_back(std::move(back));
  }
  out.calls = c.calls;
  out.prompt_tokens = c.prompt_tokens;
  out.cached_prompt_tokens = c.cached_prompt_tokens;
  out.completion_tokens = c.completion_tokens;
  out.latency_ms = c.latency_ms;
  out.backend = c.backend;
  out.sampling_json = c.sampling_json;
  return out;
}

std::optional<int64_t> sampling_seed(const std::string& sampling_json) {
  const std::string needle = "\"seed\":";
  auto pos = sampling_json.find(needle);
  if (pos == std::string::npos) return std::nullopt;
  const char* begin = sampling_json.data() + pos + needle.size();
  const char* end = sampling_json.data() + sampling_json.size();
  while (begin < end && *begin == ' ') ++begin;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

}  // namespace troupe::actors
