#include "memory/records.hpp"

#include <limits>
#include <optional>

#include <simdjson.h>

#include "common/json_writer.hpp"
#include "memory/step_json.hpp"

namespace troupe::memory {

const char* to_string(RunStatus s) {
  switch (s) {
    case RunStatus::queued: return "queued";
    case RunStatus::running: return "running";
    case RunStatus::succeeded: return "succeeded";
    case RunStatus::failed: return "failed";
    case RunStatus::cancelled: return "cancelled";
    case RunStatus::interrupted: return "interrupted";
  }
  return "unknown";
}

std::optional<RunStatus> run_status_from_string(std::string_view s) {
  for (auto st : {RunStatus::queued, RunStatus::running, RunStatus::succeeded, RunStatus::failed,
                  RunStatus::cancelled, RunStatus::interrupted}) {
    if (s == to_string(st)) return st;
  }
  return std::nullopt;
}

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// Parses `json` into the thread's parser; the element lives until the next
// parse on this thread.
Result<object> parse_object(std::string_view json, const char* what) {
  element doc;
  if (auto err = thread_parser().parse(json.data(), json.size()).get(doc)) {
    return Error(ErrorCode::parse, std::string(what) + " is not JSON (" + simdjson::error_message(err) + ")");
  }
  object obj;
  if (doc.get(obj)) return Error(ErrorCode::parse, std::string(what) + " is not a JSON object");
  return obj;
}

void write_messages(JsonWriter& w, const std::vector<Message>& messages) {
  w.begin_array();
  for (const auto& m : messages) w.begin_object().field("role", m.role).field("content", m.content).end_object();
  w.end_array();
}

void write_u64_array(JsonWriter& w, const std::vector<uint64_t>& values) {
  w.begin_array();
  for (uint64_t v : values) w.value(static_cast<unsigned long long>(v));
  w.end_array();
}

// Reads typed fields out of one object, remembering the first problem.
class Fields {
 public:
  explicit Fields(object obj) : obj_(obj) {}

  void str(const char* k, std::string& out) {
    element e;
    if (!find(k, e)) return;
    std::string_view v;
    if (e.get(v)) return fail(k, "a string");
    out.assign(v);
  }
  void i64(const char* k, int64_t& out) {
    element e;
    if (!find(k, e)) return;
    if (e.get(out)) fail(k, "an integer");
  }
  void u64(const char* k, uint64_t& out) {
    element e;
    if (!find(k, e)) return;
    if (e.get(out)) fail(k, "an unsigned integer");
  }
  void dbl(const char* k, double& out) {
    element e;
    if (!find(k, e)) return;
    if (e.is_null()) {
      out = std::numeric_limits<double>::quiet_NaN();
      return;
    }
    if (e.get(out)) fail(k, "a number");
  }
  void opt_dbl(const char* k, std::optional<double>& out) {
    element e;
    if (!find(k, e)) return;
    double v = 0;
    dbl(k, v);
    out = v;
  }
  void boolean(const char* k, bool& out) {
    element e;
    if (!find(k, e)) return;
    if (e.get(out)) fail(k, "a boolean");
  }
  void opt_bool(const char* k, std::optional<bool>& out) {
    element e;
    if (!find(k, e)) return;
    bool v = false;
    if (e.get(v)) return fail(k, "a boolean");
    out = v;
  }
  void u64_array(const char* k, std::vector<uint64_t>& out) {
    element e;
    if (!find(k, e)) return;
    simdjson::dom::array arr;
    if (e.get(arr)) return fail(k, "an array of unsigned integers");
    out.clear();
    for (element item : arr) {
      uint64_t v = 0;
      if (item.get(v)) return fail(k, "an array of unsigned integers");
      out.push_back(v);
    }
  }
  void str_array(const char* k, std::vector<std::string>& out) {
    element e;
    if (!find(k, e)) return;
    simdjson::dom::array arr;
    if (e.get(arr)) return fail(k, "an array of strings");
    out.clear();
    for (element item : arr) {
      std::string_view v;
      if (item.get(v)) return fail(k, "an array of strings");
      out.emplace_back(v);
    }
  }
  void messages(const char* k, std::vector<Message>& out) {
    element e;
    if (!find(k, e)) return;
    if (auto r = read_messages(e); r.ok()) {
      out = std::move(r.value());
    } else {
      fail(k, "an array of {role, content} objects");
    }
  }

  Status status() const {
    if (error_) return Error(ErrorCode::parse, *error_);
    return {};
  }

  static Result<std::vector<Message>> read_messages(element e) {
    simdjson::dom::array arr;
    if (e.get(arr)) return Error(ErrorCode::parse, "messages are not a JSON array");
    std::vector<Message> out;
    for (element item : arr) {
      object m;
      std::string_view role, content;
      if (item.get(m) || m["role"].get(role) || m["content"].get(content))
        return Error(ErrorCode::parse, "a message is not an object with string role and content");
      out.push_back({std::string(role), std::string(content)});
    }
    return out;
  }

 private:
  bool find(const char* k, element& e) {
    if (error_) return false;
    return obj_[k].get(e) == simdjson::SUCCESS;
  }
  void fail(const char* k, const char* expected) {
    if (!error_) error_ = std::string("field '") + k + "' is not " + expected;
  }

  object obj_;
  std::optional<std::string> error_;
};

}  // namespace

std::string encode_messages(const std::vector<Message>& messages) {
  std::string out;
  JsonWriter w(out);
  write_messages(w, messages);
  return out;
}

Result<std::vector<Message>> decode_messages(std::string_view json) {
  element doc;
  if (auto err = thread_parser().parse(json.data(), json.size()).get(doc))
    return Error(ErrorCode::parse, std::string("messages are not JSON (") + simdjson::error_message(err) + ")");
  return Fields::read_messages(doc);
}

std::string encode_run(const RunRecord& r) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("id", r.id)
      .field("workflow", r.workflow)
      .field("workflow_hash", r.workflow_hash)
      .field("pipeline", r.pipeline)
      .field("item_id", r.item_id)
      .field("input_json", r.input_json)
      .field("gold", r.gold)
      .field("status", to_string(r.status))
      .field("answer", r.answer);
  if (r.correct) w.field("correct", *r.correct);
  w.field("error", r.error)
      .field("metrics_json", r.metrics_json)
      .field("created_ms", static_cast<long long>(r.created_ms))
      .field("updated_ms", static_cast<long long>(r.updated_ms));
  if (!r.origin.empty()) w.field("origin", r.origin);  // absent in older records
  w.end_object();
  return out;
}

Result<RunRecord> decode_run(std::string_view json) {
  auto obj = parse_object(json, "run record");
  if (!obj) return obj.error();
  RunRecord r;
  Fields f(*obj);
  f.str("id", r.id);
  f.str("workflow", r.workflow);
  f.str("workflow_hash", r.workflow_hash);
  f.str("pipeline", r.pipeline);
  f.str("item_id", r.item_id);
  f.str("input_json", r.input_json);
  f.str("gold", r.gold);
  std::string status = to_string(r.status);
  f.str("status", status);
  f.str("answer", r.answer);
  f.opt_bool("correct", r.correct);
  f.str("error", r.error);
  f.str("metrics_json", r.metrics_json);
  f.i64("created_ms", r.created_ms);
  f.i64("updated_ms", r.updated_ms);
  f.str("origin", r.origin);
  if (auto st = f.status(); !st) return st.error().with_context("run record");
  auto parsed = run_status_from_string(status);
  if (!parsed) return Error(ErrorCode::parse, "run record: unknown status '" + status + "'");
  r.status = *parsed;
  return r;
}

std::string encode_step(const StepRecord& s, std::string_view prompt_blob_key, std::string_view prompt_ids_blob_key) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  write_step_fields(w, s, StepShape::stored, StepBlobKeys{std::string(prompt_blob_key), std::string(prompt_ids_blob_key)});
  w.end_object();
  return out;
}

Result<DecodedStep> decode_step(std::string_view json) {
  auto obj = parse_object(json, "step record");
  if (!obj) return obj.error();
  DecodedStep d;
  StepRecord& s = d.step;
  Fields f(*obj);
  f.str("run_id", s.run_id);
  f.u64("seq", s.seq);
  f.str("role", s.role);
  f.str("kind", s.kind);
  f.u64_array("parents", s.parents);
  f.str("prompt_blob", d.prompt_blob);
  f.str("completion", s.completion);
  f.str("answer", s.answer);
  f.opt_bool("verdict", s.verdict);
  f.opt_dbl("score", s.score);
  f.opt_bool("label", s.label);
  f.i64("prompt_tokens", s.prompt_tokens);
  f.i64("cached_prompt_tokens", s.cached_prompt_tokens);
  f.i64("completion_tokens", s.completion_tokens);
  f.str("finish_reason", s.finish_reason);
  f.dbl("latency_ms", s.latency_ms);
  f.str("backend", s.backend);
  f.str("sampling_json", s.sampling_json);
  f.str("meta_json", s.meta_json);
  f.i64("created_ms", s.created_ms);
  f.str("prompt_ids_blob", d.prompt_ids_blob);
  std::string packed_ids, packed_logprobs;
  f.str("completion_ids", packed_ids);
  f.str("logprobs", packed_logprobs);
  f.str("top_logprobs_json", s.top_logprobs_json);
  f.str_array("tokens_unavailable", s.tokens_unavailable);
  f.str("token_info", s.token_info);
  if (auto st = f.status(); !st) return st.error().with_context("step record");
  if (!packed_ids.empty()) {
    auto ids = unpack_token_ids(packed_ids);
    if (!ids) return ids.error().with_context("step record: field 'completion_ids'");
    s.completion_token_ids = std::move(ids.value());
  }
  if (!packed_logprobs.empty()) {
    auto lps = unpack_logprobs(packed_logprobs);
    if (!lps) return lps.error().with_context("step record: field 'logprobs'");
    s.token_logprobs = std::move(lps.value());
  }
  return d;
}

std::string encode_call(const CallRecord& c, std::string_view prompt_blob_key) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("run_id", c.run_id)
      .field("key", c.key)
      .field("request_id", c.request_id)
      .field("role", c.role)
      .field("ok", c.ok)
      .field("error_code", c.error_code)
      .field("error", c.error);
  if (!prompt_blob_key.empty()) w.field("prompt_blob", prompt_blob_key);
  w.key("candidates").begin_array();
  for (const auto& cand : c.candidates)
    w.begin_object()
        .field("text", cand.text)
        .field("answer", cand.answer)
        .field("verdict", cand.verdict)
        .field("finish", cand.finish)
        .field("stop_string", cand.stop_string)
        .end_object();
  w.end_array();
  w.field("calls", static_cast<long long>(c.calls))
      .field("prompt_tokens", static_cast<long long>(c.prompt_tokens))
      .field("cached_prompt_tokens", static_cast<long long>(c.cached_prompt_tokens))
      .field("completion_tokens", static_cast<long long>(c.completion_tokens))
      .field("latency_ms", c.latency_ms)
      .field("backend", c.backend)
      .field("sampling_json", c.sampling_json);
  w.key("step_seqs");
  write_u64_array(w, c.step_seqs);
  w.field("created_ms", static_cast<long long>(c.created_ms)).end_object();
  return out;
}

Result<DecodedCall> decode_call(std::string_view json) {
  auto obj = parse_object(json, "call record");
  if (!obj) return obj.error();
  DecodedCall d;
  CallRecord& c = d.call;
  Fields f(*obj);
  f.str("run_id", c.run_id);
  f.str("key", c.key);
  f.str("request_id", c.request_id);
  f.str("role", c.role);
  f.boolean("ok", c.ok);
  int64_t code = 0;
  f.i64("error_code", code);
  c.error_code = static_cast<int>(code);
  f.str("error", c.error);
  f.str("prompt_blob", d.prompt_blob);
  f.i64("calls", c.calls);
  f.i64("prompt_tokens", c.prompt_tokens);
  f.i64("cached_prompt_tokens", c.cached_prompt_tokens);
  f.i64("completion_tokens", c.completion_tokens);
  f.dbl("latency_ms", c.latency_ms);
  f.str("backend", c.backend);
  f.str("sampling_json", c.sampling_json);
  f.u64_array("step_seqs", c.step_seqs);
  f.i64("created_ms", c.created_ms);
  if (auto st = f.status(); !st) return st.error().with_context("call record");
  simdjson::dom::array cands;
  if ((*obj)["candidates"].get(cands) == simdjson::SUCCESS) {
    for (element item : cands) {
      object co;
      if (item.get(co)) return Error(ErrorCode::parse, "call record: a candidate is not an object");
      CallCandidate cand;
      Fields cf(co);
      cf.str("text", cand.text);
      cf.str("answer", cand.answer);
      int64_t verdict = -1;
      cf.i64("verdict", verdict);
      cand.verdict = static_cast<int>(verdict);
      cf.str("finish", cand.finish);
      cf.str("stop_string", cand.stop_string);
      if (auto st = cf.status(); !st) return st.error().with_context("call record: candidate");
      c.candidates.push_back(std::move(cand));
    }
  } else if ((*obj)["candidates"].error() != simdjson::NO_SUCH_FIELD) {
    return Error(ErrorCode::parse, "call record: field 'candidates' is not an array");
  }
  return d;
}

std::string encode_pair(const PairRecord& p) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("id", p.id).field("run_id", p.run_id).field("workflow", p.workflow);
  w.key("prompt");
  write_messages(w, p.prompt);
  w.field("chosen", p.chosen).field("rejected", p.rejected);
  w.key("source_steps");
  write_u64_array(w, p.source_steps);
  w.field("reason", p.reason)
      .field("margin", p.margin)
      .field("created_ms", static_cast<long long>(p.created_ms))
      .end_object();
  return out;
}

Result<PairRecord> decode_pair(std::string_view json) {
  auto obj = parse_object(json, "pair record");
  if (!obj) return obj.error();
  PairRecord p;
  Fields f(*obj);
  f.str("id", p.id);
  f.str("run_id", p.run_id);
  f.str("workflow", p.workflow);
  f.messages("prompt", p.prompt);
  f.str("chosen", p.chosen);
  f.str("rejected", p.rejected);
  f.u64_array("source_steps", p.source_steps);
  f.str("reason", p.reason);
  f.dbl("margin", p.margin);
  f.i64("created_ms", p.created_ms);
  if (auto st = f.status(); !st) return st.error().with_context("pair record");
  return p;
}

}  // namespace troupe::memory
