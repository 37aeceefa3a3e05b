#include "engine/wire_responses.hpp"

#include "engine/json_read.hpp"
#include "engine/wire_detail.hpp"

namespace troupe::engine::wire {
namespace {

enum class Kind { read, ignored, noop_only };
struct Rule {
  std::string_view name;
  Kind kind;
};
constexpr Rule kRules[] = {
    {"model", Kind::read},         {"input", Kind::read},          {"instructions", Kind::read},
    {"max_output_tokens", Kind::read}, {"temperature", Kind::read}, {"top_p", Kind::read},
    {"stream", Kind::read},        {"user", Kind::ignored},        {"metadata", Kind::ignored},
    {"store", Kind::ignored},      {"include", Kind::ignored},     {"truncation", Kind::ignored},
    {"service_tier", Kind::ignored}, {"parallel_tool_calls", Kind::ignored}, {"reasoning", Kind::ignored},
    {"prompt_cache_key", Kind::ignored}, {"safety_identifier", Kind::ignored}, {"stream_options", Kind::ignored},
    {"tools", Kind::noop_only},    {"tool_choice", Kind::noop_only}, {"text", Kind::noop_only},
    {"previous_response_id", Kind::noop_only}, {"conversation", Kind::noop_only},
    {"background", Kind::noop_only}, {"top_logprobs", Kind::noop_only}, {"prompt", Kind::noop_only},
    {"max_tool_calls", Kind::ignored},
};

// null, [], {}, false, 0, tool_choice "none"/"auto", text {"format":{"type":"text"}}.
bool asks_for_nothing(std::string_view key, json::Element v) {
  if (v.is_null()) return true;
  json::Array arr;
  if (v.get_array().get(arr) == simdjson::SUCCESS) return arr.size() == 0;
  json::Object obj;
  if (v.get_object().get(obj) == simdjson::SUCCESS) {
    if (key != "text") return obj.size() == 0;
    for (auto f : obj) {
      if (f.key == "verbosity") continue;  // a hint
      if (f.key != "format") return false;
      json::Object fmt;
      if (f.value.is_null()) continue;
      if (f.value.get_object().get(fmt) != simdjson::SUCCESS) return false;
      std::string_view t;
      auto type = json::field(fmt, "type");
      if (!type || type->get_string().get(t) != simdjson::SUCCESS || t != "text") return false;
    }
    return true;
  }
  bool b = true;
  if (v.get_bool().get(b) == simdjson::SUCCESS) return !b;
  int64_t i = 1;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return i == 0;
  std::string_view s;
  if (key == "tool_choice" && v.get_string().get(s) == simdjson::SUCCESS) return s == "none" || s == "auto";
  return false;
}

const char* refusal(std::string_view key) {
  if (key == "tools" || key == "tool_choice") return "tool calls are not supported on /v1/responses";
  if (key == "text") return "only text.format {\"type\":\"text\"} is supported";
  if (key == "previous_response_id" || key == "conversation")
    return "troupe stores no responses; send the whole conversation in input";
  if (key == "background") return "background responses are not supported";
  if (key == "top_logprobs") return "logprobs are not supported on /v1/responses (use /v1/chat/completions)";
  return "not supported";
}

// A message's content: a string or a list of input_text/output_text parts.
Result<std::string> read_item_content(json::Element v, const std::string& path) {
  std::string_view s;
  if (v.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  TROUPE_TRY_ASSIGN(auto arr, json::as_array(v, path));
  std::string out;
  size_t i = 0;
  for (json::Element e : arr) {
    std::string ppath = json::join(path, i++);
    TROUPE_TRY_ASSIGN(auto part, json::as_object(e, ppath));
    auto type = json::field(part, "type");
    if (!type) return Error{ErrorCode::parse, json::join(ppath, "type") + ": missing"};
    TROUPE_TRY_ASSIGN(auto t, json::as_string(*type, json::join(ppath, "type")));
    if (t != "input_text" && t != "output_text" && t != "text")
      return Error{ErrorCode::parse, json::join(ppath, "type") + ": only input_text and output_text parts are "
                                                                  "supported, got \"" + sanitize_utf8(t) + "\""};
    auto text = json::field(part, "text");
    if (!text) return Error{ErrorCode::parse, json::join(ppath, "text") + ": missing"};
    TROUPE_TRY_ASSIGN(auto ts, json::as_string(*text, json::join(ppath, "text")));
    out += ts;
  }
  return out;
}

Result<ResponsesRequest> parse_impl(std::string_view body) {
  TROUPE_TRY_ASSIGN(auto doc, json::parse(detail::local_parser(), body, "request body"));
  TROUPE_TRY_ASSIGN(auto obj, json::as_object(doc, ""));
  for (auto f : obj) {
    for (const auto& rule : kRules) {
      if (rule.name != f.key) continue;
      if (rule.kind == Kind::noop_only && !asks_for_nothing(f.key, f.value))
        return Error{ErrorCode::parse, std::string(f.key) + ": " + refusal(f.key) + "; leave it out or send null"};
    }
  }
  auto present = [&obj](std::string_view key) -> std::optional<json::Element> {
    auto v = json::field(obj, key);
    if (v && v->is_null()) return std::nullopt;
    return v;
  };
  ResponsesRequest out;
  GenerateRequest& r = out.chat.request;
  r.kind = PromptKind::chat;
  if (auto v = present("model")) {
    TROUPE_TRY_ASSIGN(auto s, json::as_string(*v, "model"));
    r.model = s;
  }
  if (auto v = present("instructions")) {
    TROUPE_TRY_ASSIGN(auto s, json::as_string(*v, "instructions"));
    out.instructions = s;
    if (!out.instructions.empty()) r.messages.push_back({"system", out.instructions});
  }
  auto input = present("input");
  if (!input) return Error{ErrorCode::parse, "input: missing"};
  std::string_view text;
  if (input->get_string().get(text) == simdjson::SUCCESS) {
    r.messages.push_back({"user", std::string(text)});
  } else {
    TROUPE_TRY_ASSIGN(auto arr, json::as_array(*input, "input"));
    size_t i = 0;
    for (json::Element e : arr) {
      std::string ipath = json::join("input", i++);
      TROUPE_TRY_ASSIGN(auto item, json::as_object(e, ipath));
      if (auto type = json::field(item, "type")) {
        TROUPE_TRY_ASSIGN(auto t, json::as_string(*type, json::join(ipath, "type")));
        if (t != "message")
          return Error{ErrorCode::parse, json::join(ipath, "type") + ": only message items are supported, got \"" +
                                             sanitize_utf8(t) + "\""};
      }
      auto role = json::field(item, "role");
      if (!role) return Error{ErrorCode::parse, json::join(ipath, "role") + ": missing"};
      TROUPE_TRY_ASSIGN(auto rs, json::as_string(*role, json::join(ipath, "role")));
      ChatMessage m;
      m.role = rs == "developer" ? std::string("system") : std::string(rs);
      if (auto content = json::field(item, "content"); content && !content->is_null()) {
        TROUPE_TRY_ASSIGN(auto c, read_item_content(*content, json::join(ipath, "content")));
        m.content = std::move(c);
      }
      r.messages.push_back(std::move(m));
    }
  }
  if (r.messages.empty() || (r.messages.size() == 1 && !out.instructions.empty()))
    return Error{ErrorCode::parse, "input: must hold at least one message"};
  SamplingParams& sp = r.sampling;
  if (auto v = present("max_output_tokens")) {
    TROUPE_TRY_ASSIGN(auto i, json::as_int(*v, "max_output_tokens"));
    if (i < 1 || i > (1 << 24))
      return Error{ErrorCode::parse, "max_output_tokens: must be between 1 and 16777216, got " + std::to_string(i)};
    sp.max_tokens = static_cast<int>(i);
    out.max_output_tokens = static_cast<int>(i);
    out.chat.max_tokens_set = true;
  }
  if (auto v = present("temperature")) {
    TROUPE_TRY_ASSIGN(auto d, json::as_double(*v, "temperature"));
    if (!(d >= 0.0 && d <= 2.0)) return Error{ErrorCode::parse, "temperature: must be between 0 and 2"};
    sp.temperature = d;
  }
  if (auto v = present("top_p")) {
    TROUPE_TRY_ASSIGN(auto d, json::as_double(*v, "top_p"));
    if (!(d >= 0.0 && d <= 1.0)) return Error{ErrorCode::parse, "top_p: must be between 0 and 1"};
    sp.top_p = d;
  }
  if (auto v = present("stream")) {
    TROUPE_TRY_ASSIGN(auto b, json::as_bool(*v, "stream"));
    out.chat.stream = b;
  }
  return out;
}

void write_usage(JsonWriter& w, const Usage& u) {
  w.begin_object()
      .field("input_tokens", static_cast<long long>(u.prompt_tokens))
      .key("input_tokens_details")
      .begin_object()
      .field("cached_tokens", static_cast<long long>(u.cached_prompt_tokens))
      .end_object()
      .field("output_tokens", static_cast<long long>(u.completion_tokens))
      .key("output_tokens_details")
      .begin_object()
      .field("reasoning_tokens", 0LL)
      .end_object()
      .field("total_tokens", static_cast<long long>(u.prompt_tokens + u.completion_tokens))
      .end_object();
}

void write_text_part(JsonWriter& w, std::string_view text) {
  w.begin_object()
      .field("type", "output_text")
      .field("text", text)
      .key("annotations")
      .begin_array()
      .end_array()
      .key("logprobs")
      .begin_array()
      .end_array()
      .end_object();
}

// The output message item; `text` null = in progress with no parts yet.
void write_message_item(JsonWriter& w, const std::string& id, const std::string* text, std::string_view status) {
  w.begin_object().field("id", id).field("type", "message").field("status", status).field("role", "assistant");
  w.key("content").begin_array();
  if (text) write_text_part(w, *text);
  w.end_array().end_object();
}

bool incomplete(const GenerateResult& r) { return !r.choices.empty() && r.choices[0].finish == FinishReason::length; }

void write_optional(JsonWriter& w, std::string_view key, const std::optional<double>& v) {
  w.key(key);
  if (v) {
    w.value(*v);
  } else {
    w.null();
  }
}

}  // namespace

Result<ResponsesRequest> parse_responses_request(std::string_view body) {
  auto r = parse_impl(body);
  if (!r.ok()) {
    Error e = r.error();
    e.code = ErrorCode::invalid_argument;
    return e;
  }
  return r;
}

std::string write_response_object(const ResponsesMeta& m, const GenerateResult* result, const Error* error) {
  std::string out;
  JsonWriter w(out);
  const char* status = error ? "failed" : !result ? "in_progress" : incomplete(*result) ? "incomplete" : "completed";
  w.begin_object()
      .field("id", m.id)
      .field("object", "response")
      .field("created_at", static_cast<long long>(m.created))
      .field("status", status)
      .key("error");
  if (error) {
    w.begin_object().field("code", "server_error").field("message", error->message).end_object();
  } else {
    w.null();
  }
  w.key("incomplete_details");
  if (result && incomplete(*result)) {
    w.begin_object().field("reason", "max_output_tokens").end_object();
  } else {
    w.null();
  }
  w.key("instructions");
  if (m.instructions.empty()) {
    w.null();
  } else {
    w.value(m.instructions);
  }
  w.key("max_output_tokens");
  if (m.max_output_tokens) {
    w.value(*m.max_output_tokens);
  } else {
    w.null();
  }
  w.field("model", m.model).key("output").begin_array();
  if (result && !result->choices.empty())
    write_message_item(w, m.item_id, &result->choices[0].text, incomplete(*result) ? "incomplete" : "completed");
  w.end_array();
  w.field("parallel_tool_calls", false);
  write_optional(w, "temperature", m.temperature);
  write_optional(w, "top_p", m.top_p);
  w.field("tool_choice", "none").key("tools").begin_array().end_array();
  w.key("text").begin_object().key("format").begin_object().field("type", "text").end_object().end_object();
  w.field("truncation", "disabled").key("metadata").begin_object().end_object();
  w.key("usage");
  if (result) {
    write_usage(w, result->usage);
  } else {
    w.null();
  }
  w.end_object();
  return out;
}

std::string ResponsesStream::event(std::string_view type, const std::function<void(JsonWriter&)>& fields) {
  std::string payload;
  JsonWriter w(payload);
  w.begin_object().field("type", type).field("sequence_number", static_cast<long long>(sequence_++));
  fields(w);
  w.end_object();
  std::string out = "event: ";
  out += type;
  out += "\ndata: ";
  out += payload;
  out += "\n\n";
  return out;
}

std::string ResponsesStream::begin() {
  std::string snapshot = write_response_object(meta_, nullptr, nullptr);
  std::string out = event("response.created", [&](JsonWriter& w) { w.key("response").raw(snapshot); });
  out += event("response.in_progress", [&](JsonWriter& w) { w.key("response").raw(snapshot); });
  out += event("response.output_item.added", [&](JsonWriter& w) {
    w.field("output_index", 0).key("item");
    write_message_item(w, meta_.item_id, nullptr, "in_progress");
  });
  out += event("response.content_part.added", [&](JsonWriter& w) {
    w.field("item_id", meta_.item_id).field("output_index", 0).field("content_index", 0).key("part");
    write_text_part(w, "");
  });
  return out;
}

std::string ResponsesStream::delta(std::string_view text) {
  return event("response.output_text.delta", [&](JsonWriter& w) {
    w.field("item_id", meta_.item_id).field("output_index", 0).field("content_index", 0).field("delta", text);
    w.key("logprobs").begin_array().end_array();
  });
}

std::string ResponsesStream::finish(const GenerateResult& result) {
  static const std::string kEmpty;
  const std::string& text = result.choices.empty() ? kEmpty : result.choices[0].text;
  const char* item_status = incomplete(result) ? "incomplete" : "completed";
  std::string out = event("response.output_text.done", [&](JsonWriter& w) {
    w.field("item_id", meta_.item_id).field("output_index", 0).field("content_index", 0).field("text", text);
    w.key("logprobs").begin_array().end_array();
  });
  out += event("response.content_part.done", [&](JsonWriter& w) {
    w.field("item_id", meta_.item_id).field("output_index", 0).field("content_index", 0).key("part");
    write_text_part(w, text);
  });
  out += event("response.output_item.done", [&](JsonWriter& w) {
    w.field("output_index", 0).key("item");
    write_message_item(w, meta_.item_id, &text, item_status);
  });
  std::string final = write_response_object(meta_, &result, nullptr);
  out += event(incomplete(result) ? "response.incomplete" : "response.completed",
               [&](JsonWriter& w) { w.key("response").raw(final); });
  return out;
}

std::string ResponsesStream::fail(const Error& error, int status) {
  std::string out = event("error", [&](JsonWriter& w) {
    w.field("code", error_code_for_status(status)).field("message", error.message).key("param").null();
  });
  std::string final = write_response_object(meta_, nullptr, &error);
  out += event("response.failed", [&](JsonWriter& w) { w.key("response").raw(final); });
  return out;
}

}  // namespace troupe::engine::wire
