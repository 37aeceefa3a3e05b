#include "engine/wire.hpp"

#include <algorithm>
#include <cstdint>
#include <set>

#include "common/json_writer.hpp"
#include "engine/json_read.hpp"
#include "engine/wire_detail.hpp"
#include "engine/wire_structured.hpp"

namespace troupe::engine::wire {
namespace {

constexpr size_t kExcerptBytes = 300;

std::string excerpt(std::string_view body) {
  std::string_view cut = body.substr(0, kExcerptBytes);
  std::string out = sanitize_utf8(cut);
  if (body.size() > kExcerptBytes) out += "... (" + std::to_string(body.size()) + " bytes)";
  return out;
}

bool retryable_status(int status) { return status == 408 || status == 429 || status >= 500; }

// vLLM's token id arrays ("prompt_token_ids", "token_ids"); null = absent.
Status read_token_ids(json::Element value, const std::string& path, std::vector<int32_t>& out) {
  if (value.is_null()) return {};
  TROUPE_TRY_ASSIGN(auto arr, json::as_array(value, path));
  out.clear();
  size_t i = 0;
  for (json::Element e : arr) {
    TROUPE_TRY_ASSIGN(auto v, json::as_int(e, json::join(path, i)));
    if (v < 0 || v > INT32_MAX) return Error{ErrorCode::parse, json::join(path, i) + ": not a token id"};
    out.push_back(static_cast<int32_t>(v));
    ++i;
  }
  return {};
}

// Reads one non-stream choice.
Result<Choice> read_choice(json::Element value, const std::string& path, size_t position) {
  TROUPE_TRY_ASSIGN(auto obj, json::as_object(value, path));
  Choice c;
  c.index = static_cast<int>(position);
  if (auto idx = json::field(obj, "index")) {
    TROUPE_TRY_ASSIGN(auto i, json::as_int(*idx, json::join(path, "index")));
    if (i < 0 || i > 1'000'000) return Error{ErrorCode::parse, json::join(path, "index") + ": out of range"};
    c.index = static_cast<int>(i);
  }
  if (auto msg = json::field(obj, "message")) {
    std::string mpath = json::join(path, "message");
    TROUPE_TRY_ASSIGN(auto m, json::as_object(*msg, mpath));
    if (auto content = json::field(m, "content")) {
      TROUPE_TRY_ASSIGN(auto s, json::as_string(*content, json::join(mpath, "content")));
      c.text = s;
    }
  } else if (auto text = json::field(obj, "text")) {
    TROUPE_TRY_ASSIGN(auto s, json::as_string(*text, json::join(path, "text")));
    c.text = s;
  } else {
    return Error{ErrorCode::parse, path + ": neither \"message\" nor \"text\""};
  }
  if (auto lp = json::field(obj, "logprobs")) {
    auto st = detail::read_logprobs(*lp, json::join(path, "logprobs"), c.logprobs);
    if (!st.ok()) return st.error();
  }
  if (auto ids = json::field(obj, "token_ids")) {  // vLLM return_token_ids
    auto st = read_token_ids(*ids, json::join(path, "token_ids"), c.token_ids);
    if (!st.ok()) return st.error();
  }
  bool finished = false;
  auto st = detail::read_finish(obj, path, c, finished);
  if (!st.ok()) return st.error();
  return c;
}

Result<std::vector<std::string>> read_stop(json::Element value, const std::string& path) {
  std::vector<std::string> out;
  std::string_view s;
  if (value.get_string().get(s) == simdjson::SUCCESS) {
    out.emplace_back(s);
    return out;
  }
  TROUPE_TRY_ASSIGN(auto arr, json::as_array(value, path));
  size_t i = 0;
  for (json::Element e : arr) {
    TROUPE_TRY_ASSIGN(auto item, json::as_string(e, json::join(path, i)));
    out.emplace_back(item);
    ++i;
  }
  return out;
}

// Message content: a string or a list of {"type":"text","text":...} parts.
Result<std::string> read_content(json::Element value, const std::string& path) {
  std::string_view s;
  if (value.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  if (!value.is_array()) {
    return Error{ErrorCode::parse, path + ": expected string or list of text parts"};
  }
  TROUPE_TRY_ASSIGN(auto arr, json::as_array(value, path));
  std::string out;
  size_t i = 0;
  for (json::Element e : arr) {
    std::string ppath = json::join(path, i++);
    TROUPE_TRY_ASSIGN(auto part, json::as_object(e, ppath));
    auto type = json::field(part, "type");
    if (!type) return Error{ErrorCode::parse, json::join(ppath, "type") + ": missing"};
    TROUPE_TRY_ASSIGN(auto t, json::as_string(*type, json::join(ppath, "type")));
    if (t != "text") {
      return Error{ErrorCode::parse, json::join(ppath, "type") + ": only \"text\" parts are supported, got \"" +
                                         sanitize_utf8(t) + "\""};
    }
    auto text = json::field(part, "text");
    if (!text) return Error{ErrorCode::parse, json::join(ppath, "text") + ": missing"};
    TROUPE_TRY_ASSIGN(auto ts, json::as_string(*text, json::join(ppath, "text")));
    out += ts;
  }
  return out;
}

// How the request parser treats each top-level key of a request body. One
// table for /v1/chat/completions and /v1/completions:
// - read: a parameter troupe honours (parsed below; null = absent).
// - ignored: accepted and ignored whatever its value: it changes nothing
//   troupe produces (user, metadata, store, ...).
// - noop_only: accepted when null or a value that asks for nothing
//   (echo: false, best_of: 1, ...); any other value is refused with a 400
//   naming it, because troupe cannot honour it.
// - chat_only: read on /v1/chat/completions (tools and tool_choice, by
//   read_structured_fields, engine/wire_structured.cpp); noop_only on
//   /v1/completions (tools: [], tool_choice: "none" or "auto").
// Keys not in the table are accepted and ignored, as OpenAI and vLLM do.
enum class ParamKind { read, ignored, noop_only, chat_only };
struct ParamRule {
  std::string_view name;
  ParamKind kind;
  const char* refusal = "";  // noop_only, chat_only: why a real value is refused
};

constexpr ParamRule kParamRules[] = {
    {"model", ParamKind::read},
    {"messages", ParamKind::read},
    {"prompt", ParamKind::read},
    {"n", ParamKind::read},
    {"max_tokens", ParamKind::read},
    {"max_completion_tokens", ParamKind::read},
    {"temperature", ParamKind::read},
    {"top_p", ParamKind::read},
    {"top_k", ParamKind::read},
    {"min_p", ParamKind::read},
    {"seed", ParamKind::read},
    {"stop", ParamKind::read},
    {"logprobs", ParamKind::read},
    {"top_logprobs", ParamKind::read},
    {"stream", ParamKind::read},
    {"stream_options", ParamKind::read},
    {"continue_final_message", ParamKind::read},
    {"add_generation_prompt", ParamKind::read},
    {"return_token_ids", ParamKind::read},
    {"repetition_penalty", ParamKind::read},
    {"frequency_penalty", ParamKind::read},
    {"presence_penalty", ParamKind::read},
    {"user", ParamKind::ignored},
    {"metadata", ParamKind::ignored},
    {"store", ParamKind::ignored},
    {"parallel_tool_calls", ParamKind::read},
    {"response_format", ParamKind::read},
    {"service_tier", ParamKind::ignored},
    {"prompt_cache_key", ParamKind::ignored},
    {"safety_identifier", ParamKind::ignored},
    {"tools", ParamKind::chat_only, "tool calls are a /v1/chat/completions parameter"},
    {"tool_choice", ParamKind::chat_only, "tool calls are a /v1/chat/completions parameter"},
    {"functions", ParamKind::noop_only, "function calls are not supported by this server"},
    {"function_call", ParamKind::noop_only, "function calls are not supported by this server"},
    {"logit_bias", ParamKind::noop_only, "logit_bias is not supported by this server"},
    {"echo", ParamKind::noop_only, "echoing the prompt is not supported by this server"},
    {"best_of", ParamKind::noop_only, "best_of other than 1 is not supported by this server"},
    {"suffix", ParamKind::noop_only, "suffix is not supported by this server"},
    {"modalities", ParamKind::noop_only, "only text output is supported"},
    {"audio", ParamKind::noop_only, "audio output is not supported"},
};

const ParamRule* param_rule(std::string_view key) {
  for (const auto& rule : kParamRules)
    if (rule.name == key) return &rule;
  return nullptr;
}

// True when `value` of a noop_only parameter asks for nothing: null, an
// empty list or object, false, or the parameter's own "do nothing" value.
bool is_noop_value(std::string_view key, json::Element value) {
  if (value.is_null()) return true;
  json::Array arr;
  if (value.get_array().get(arr) == simdjson::SUCCESS) {
    if (arr.size() == 0) return true;
    if (key == "modalities" && arr.size() == 1) {
      std::string_view m;
      return arr.at(0).get_string().get(m) == simdjson::SUCCESS && m == "text";
    }
    return false;
  }
  json::Object obj;
  if (value.get_object().get(obj) == simdjson::SUCCESS) {
    if (obj.size() == 0) return true;
    return false;
  }
  bool b = true;
  if (value.get_bool().get(b) == simdjson::SUCCESS) return !b;
  std::string_view str;
  if (value.get_string().get(str) == simdjson::SUCCESS) {
    if (key == "tool_choice" || key == "function_call") return str == "none" || str == "auto";
    if (key == "suffix") return str.empty();
    return false;
  }
  int64_t i = 0;
  if (key == "best_of" && value.get_int64().get(i) == simdjson::SUCCESS) return i == 1;
  return false;
}

// Checks every top-level key against kParamRules (see there).
Status check_parameters(json::Object obj, Api api) {
  for (auto field : obj) {
    const ParamRule* rule = param_rule(field.key);
    if (!rule) continue;
    const bool noop_only =
        rule->kind == ParamKind::noop_only || (rule->kind == ParamKind::chat_only && api != Api::chat);
    if (noop_only && !is_noop_value(field.key, field.value))
      return Error{ErrorCode::parse, std::string(field.key) + ": " + rule->refusal + "; leave it out or send null"};
    if (field.value.is_null()) continue;
    if (field.key == "messages" && api != Api::chat)
      return Error{ErrorCode::parse, "messages: not a /v1/completions parameter (use prompt)"};
    if (field.key == "prompt" && api == Api::chat)
      return Error{ErrorCode::parse, "prompt: not a /v1/chat/completions parameter (use messages)"};
  }
  return {};
}

constexpr size_t kMaxPrompts = 64;  // completions: prompts in one request

Result<IncomingRequest> parse_request_impl(std::string_view body, Api api) {
  TROUPE_TRY_ASSIGN(auto doc, json::parse(detail::local_parser(), body, "request body"));
  TROUPE_TRY_ASSIGN(auto obj, json::as_object(doc, ""));
  IncomingRequest in;
  GenerateRequest& r = in.request;
  SamplingParams& sp = r.sampling;
  if (Status checked = check_parameters(obj, api); !checked.ok()) return checked.error();
  // A read parameter sent as null is the same as absent.
  auto present = [&obj](std::string_view key) -> std::optional<json::Element> {
    auto v = json::field(obj, key);
    if (v && v->is_null()) return std::nullopt;
    return v;
  };

  if (auto v = present("model")) {
    TROUPE_TRY_ASSIGN(auto s, json::as_string(*v, "model"));
    r.model = s;
  }
  if (api == Api::chat) {
    r.kind = PromptKind::chat;
    auto v = present("messages");
    if (!v) return Error{ErrorCode::parse, "messages: missing"};
    TROUPE_TRY_ASSIGN(auto arr, json::as_array(*v, "messages"));
    size_t i = 0;
    for (json::Element e : arr) {
      std::string mpath = json::join("messages", i++);
      TROUPE_TRY_ASSIGN(auto m, json::as_object(e, mpath));
      auto role = json::field(m, "role");
      if (!role) return Error{ErrorCode::parse, json::join(mpath, "role") + ": missing"};
      TROUPE_TRY_ASSIGN(auto rs, json::as_string(*role, json::join(mpath, "role")));
      ChatMessage msg;
      msg.role = rs;
      if (auto content = json::field(m, "content"); content && !content->is_null()) {
        TROUPE_TRY_ASSIGN(auto text, read_content(*content, json::join(mpath, "content")));
        msg.content = std::move(text);
      }
      if (auto st = read_message_tool_fields(m, mpath, msg); !st.ok()) return st.error();
      r.messages.push_back(std::move(msg));
    }
    if (r.messages.empty()) return Error{ErrorCode::parse, "messages: must not be empty"};
    if (auto v2 = present("continue_final_message")) {
      TROUPE_TRY_ASSIGN(auto b, json::as_bool(*v2, "continue_final_message"));
      r.continue_final_message = b;
    }
    if (r.continue_final_message && r.messages.back().role != "assistant") {
      return Error{ErrorCode::parse, "continue_final_message: the last message must have role \"assistant\""};
    }
    if (auto v2 = present("add_generation_prompt")) {
      TROUPE_TRY_ASSIGN(auto b, json::as_bool(*v2, "add_generation_prompt"));
      if (b && r.continue_final_message) {
        return Error{ErrorCode::parse,
                     "add_generation_prompt: cannot be true together with continue_final_message"};
      }
    }
  } else {
    r.kind = PromptKind::text;
    auto v = present("prompt");
    if (!v) return Error{ErrorCode::parse, "prompt: missing"};
    std::string_view s;
    if (v->get_string().get(s) == simdjson::SUCCESS) {
      in.prompts.emplace_back(s);
    } else if (v->is_array()) {
      TROUPE_TRY_ASSIGN(auto arr, json::as_array(*v, "prompt"));
      if (arr.size() == 0) return Error{ErrorCode::parse, "prompt: must not be an empty list"};
      if (arr.size() > kMaxPrompts)
        return Error{ErrorCode::parse, "prompt: at most " + std::to_string(kMaxPrompts) + " prompts per request, got " +
                                           std::to_string(arr.size())};
      size_t i = 0;
      for (json::Element e : arr) {
        std::string ppath = json::join("prompt", i++);
        if (e.is_int64() || e.is_uint64() || e.is_array())
          return Error{ErrorCode::parse, ppath + ": token-id prompts are not supported; send the prompt as text"};
        TROUPE_TRY_ASSIGN(auto p, json::as_string(e, ppath));
        in.prompts.emplace_back(p);
      }
    } else {
      return Error{ErrorCode::parse, "prompt: expected string or a list of strings"};
    }
    r.prompt = in.prompts.front();
  }

  auto int_field = [&](std::string_view key, int64_t lo, int64_t hi, auto&& set) -> Status {
    auto v = present(key);
    if (!v) return {};
    auto i = json::as_int(*v, std::string(key));
    if (!i.ok()) return i.error();
    if (*i < lo || *i > hi) {
      return Error{ErrorCode::parse, std::string(key) + ": must be between " + std::to_string(lo) + " and " +
                                         std::to_string(hi) + ", got " + std::to_string(*i)};
    }
    set(*i);
    return {};
  };
  auto double_field = [&](std::string_view key, double lo, double hi, auto&& set) -> Status {
    auto v = present(key);
    if (!v) return {};
    auto d = json::as_double(*v, std::string(key));
    if (!d.ok()) return d.error();
    if (!(*d >= lo && *d <= hi)) {
      return Error{ErrorCode::parse, std::string(key) + ": must be between " + std::to_string(lo) + " and " +
                                         std::to_string(hi)};
    }
    set(*d);
    return {};
  };

  Status st;
  if (!(st = read_structured_fields(obj, api == Api::chat, r)).ok()) return st.error();
  if (!(st = double_field("repetition_penalty", 0.01, 100.0, [&](double v) { sp.repetition_penalty = v; })).ok())
    return st.error();
  if (!(st = double_field("frequency_penalty", -2.0, 2.0, [&](double v) { sp.frequency_penalty = v; })).ok())
    return st.error();
  if (!(st = double_field("presence_penalty", -2.0, 2.0, [&](double v) { sp.presence_penalty = v; })).ok())
    return st.error();
  if (!(st = int_field("n", 1, 1024, [&](int64_t v) { sp.n = static_cast<int>(v); })).ok()) return st.error();
  if (in.prompts.size() * static_cast<size_t>(sp.n) > 1024)
    return Error{ErrorCode::parse, "n: prompts x n must be at most 1024, got " +
                                       std::to_string(in.prompts.size() * static_cast<size_t>(sp.n))};
  auto set_max_tokens = [&](int64_t v) {
    sp.max_tokens = static_cast<int>(v);
    in.max_tokens_set = true;
  };
  if (!(st = int_field("max_tokens", 0, 1 << 24, set_max_tokens)).ok()) return st.error();
  if (!(st = int_field("max_completion_tokens", 0, 1 << 24, set_max_tokens)).ok()) return st.error();
  if (!(st = int_field("top_k", -1, 1 << 20, [&](int64_t v) { sp.top_k = v < 0 ? 0 : static_cast<int>(v); })).ok())
    return st.error();
  if (!(st = int_field("seed", INT64_MIN, INT64_MAX, [&](int64_t v) { sp.seed = v; })).ok()) return st.error();
  if (!(st = double_field("temperature", 0.0, 100.0, [&](double v) { sp.temperature = v; })).ok()) return st.error();
  if (!(st = double_field("top_p", 0.0, 1.0, [&](double v) { sp.top_p = v; })).ok()) return st.error();
  if (!(st = double_field("min_p", 0.0, 1.0, [&](double v) { sp.min_p = v; })).ok()) return st.error();
  if (auto v = present("stop")) {
    TROUPE_TRY_ASSIGN(auto stops, read_stop(*v, "stop"));
    sp.stop = std::move(stops);
  }
  if (api == Api::chat) {
    bool want = false;
    if (auto v = present("logprobs")) {
      TROUPE_TRY_ASSIGN(auto b, json::as_bool(*v, "logprobs"));
      want = b;
    }
    int top = 0;
    if (!(st = int_field("top_logprobs", 0, 20, [&](int64_t v) { top = static_cast<int>(v); })).ok())
      return st.error();
    if (top > 0 && !want) return Error{ErrorCode::parse, "top_logprobs: requires \"logprobs\":true"};
    sp.logprobs = want ? (top > 0 ? top : -1) : 0;
  } else {
    if (!(st = int_field("logprobs", 0, 20, [&](int64_t v) { sp.logprobs = v == 0 ? -1 : static_cast<int>(v); })).ok())
      return st.error();
  }
  if (auto v = present("return_token_ids")) {
    TROUPE_TRY_ASSIGN(auto b, json::as_bool(*v, "return_token_ids"));
    r.return_token_ids = b;
  }
  if (auto v = present("stream")) {
    TROUPE_TRY_ASSIGN(auto b, json::as_bool(*v, "stream"));
    in.stream = b;
  }
  if (auto v = present("stream_options")) {
    TROUPE_TRY_ASSIGN(auto so, json::as_object(*v, "stream_options"));
    if (auto u = json::field(so, "include_usage"); u && !u->is_null()) {
      TROUPE_TRY_ASSIGN(auto b, json::as_bool(*u, "stream_options.include_usage"));
      in.include_usage = b;
    }
  }
  return in;
}

}  // namespace

namespace detail {

simdjson::dom::parser& local_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// The "token" and "logprob" fields of one chat logprobs entry (the token
// itself or one of its top alternatives); absent fields keep their values.
Status read_token_logprob(json::Object o, const std::string& path, std::string& token, double& logprob) {
  if (auto tok = json::field(o, "token")) {
    TROUPE_TRY_ASSIGN(auto s, json::as_string(*tok, json::join(path, "token")));
    token = s;
  }
  if (auto lp = json::field(o, "logprob")) {
    TROUPE_TRY_ASSIGN(auto d, json::as_double(*lp, json::join(path, "logprob")));
    logprob = d;
  }
  return {};
}

Status read_logprobs(json::Element value, const std::string& path, std::vector<TokenLogprob>& out) {
  TROUPE_TRY_ASSIGN(auto obj, json::as_object(value, path));
  if (auto content = json::field(obj, "content")) {  // chat shape
    std::string cpath = json::join(path, "content");
    TROUPE_TRY_ASSIGN(auto arr, json::as_array(*content, cpath));
    size_t i = 0;
    for (json::Element e : arr) {
      std::string tpath = json::join(cpath, i++);
      TROUPE_TRY_ASSIGN(auto t, json::as_object(e, tpath));
      TokenLogprob tl;
      if (Status st = read_token_logprob(t, tpath, tl.token, tl.logprob); !st.ok()) return st;
      if (auto top = json::field(t, "top_logprobs")) {
        std::string ppath = json::join(tpath, "top_logprobs");
        TROUPE_TRY_ASSIGN(auto tarr, json::as_array(*top, ppath));
        size_t k = 0;
        for (json::Element a : tarr) {
          std::string apath = json::join(ppath, k++);
          TROUPE_TRY_ASSIGN(auto ao, json::as_object(a, apath));
          TopLogprob alt;
          if (Status st = read_token_logprob(ao, apath, alt.token, alt.logprob); !st.ok()) return st;
          tl.top.push_back(std::move(alt));
        }
      }
      out.push_back(std::move(tl));
    }
    return {};
  }
  // Completions shape: parallel arrays.
  auto tokens = json::field(obj, "tokens");
  if (!tokens) return {};
  TROUPE_TRY_ASSIGN(auto tarr, json::as_array(*tokens, json::join(path, "tokens")));
  size_t base = out.size();
  size_t i = 0;
  for (json::Element e : tarr) {
    TROUPE_TRY_ASSIGN(auto s, json::as_string(e, json::join(json::join(path, "tokens"), i++)));
    TokenLogprob tl;
    tl.token = s;
    out.push_back(std::move(tl));
  }
  if (auto lps = json::field(obj, "token_logprobs")) {
    std::string lpath = json::join(path, "token_logprobs");
    TROUPE_TRY_ASSIGN(auto larr, json::as_array(*lps, lpath));
    size_t k = 0;
    for (json::Element e : larr) {
      if (base + k >= out.size()) break;
      if (!e.is_null()) {
        TROUPE_TRY_ASSIGN(auto d, json::as_double(e, json::join(lpath, k)));
        out[base + k].logprob = d;
      }
      ++k;
    }
  }
  if (auto tops = json::field(obj, "top_logprobs")) {
    std::string ppath = json::join(path, "top_logprobs");
    TROUPE_TRY_ASSIGN(auto parr, json::as_array(*tops, ppath));
    size_t k = 0;
    for (json::Element e : parr) {
      if (base + k >= out.size()) break;
      if (!e.is_null()) {
        std::string opath = json::join(ppath, k);
        TROUPE_TRY_ASSIGN(auto o, json::as_object(e, opath));
        for (auto kv : o) {
          TROUPE_TRY_ASSIGN(auto d, json::as_double(kv.value, json::join(opath, kv.key)));
          out[base + k].top.push_back(TopLogprob{std::string(kv.key), d});
        }
      }
      ++k;
    }
  }
  return {};
}

Status read_usage(json::Element value, const std::string& path, Usage& usage) {
  TROUPE_TRY_ASSIGN(auto obj, json::as_object(value, path));
  if (auto v = json::field(obj, "prompt_tokens")) {
    TROUPE_TRY_ASSIGN(auto i, json::as_int(*v, json::join(path, "prompt_tokens")));
    usage.prompt_tokens = i;
  }
  if (auto v = json::field(obj, "completion_tokens")) {
    TROUPE_TRY_ASSIGN(auto i, json::as_int(*v, json::join(path, "completion_tokens")));
    usage.completion_tokens = i;
  }
  if (auto details = json::field(obj, "prompt_tokens_details")) {
    std::string dpath = json::join(path, "prompt_tokens_details");
    TROUPE_TRY_ASSIGN(auto d, json::as_object(*details, dpath));
    if (auto v = json::field(d, "cached_tokens")) {
      TROUPE_TRY_ASSIGN(auto i, json::as_int(*v, json::join(dpath, "cached_tokens")));
      usage.cached_prompt_tokens = i;
    }
  }
  return {};
}

Status read_finish(json::Object choice, const std::string& path, Choice& out, bool& finished) {
  finished = false;
  if (auto fr = json::field(choice, "finish_reason")) {
    TROUPE_TRY_ASSIGN(auto s, json::as_string(*fr, json::join(path, "finish_reason")));
    apply_finish_reason(out, s);
    finished = true;
  }
  if (auto sr = json::field(choice, "stop_reason")) {
    std::string_view s;
    if (sr->get_string().get(s) == simdjson::SUCCESS) out.stop_string = s;  // an int is a stop token id
  }
  return {};
}

std::optional<Error> error_from_object(json::Object obj, int fallback_status) {
  std::string message;
  int status = fallback_status;
  auto take_code = [&](json::Object o) {
    if (auto code = json::field(o, "code")) {
      int64_t c;
      std::string_view name;
      if (code->get_int64().get(c) == simdjson::SUCCESS && c >= 400 && c <= 599) {
        status = static_cast<int>(c);
      } else if (code->get_string().get(name) == simdjson::SUCCESS) {
        // troupe's own string codes (error_code_for_status) name a status.
        for (int st : {400, 401, 404, 408, 413, 415, 429, 499, 500, 502, 503, 504})
          if (name == error_code_for_status(st)) status = st;
      }
    }
  };
  auto take_message = [&](json::Object o) -> bool {
    if (auto m = json::field(o, "message")) {
      std::string_view s;
      if (m->get_string().get(s) == simdjson::SUCCESS) {
        message = s;
        return true;
      }
    }
    return false;
  };
  if (auto err = json::field(obj, "error")) {
    json::Object eo;
    std::string_view s;
    if (err->get_object().get(eo) == simdjson::SUCCESS) {  // OpenAI / new vLLM / llama.cpp
      if (!take_message(eo)) message = "(no message)";
      take_code(eo);
    } else if (err->get_string().get(s) == simdjson::SUCCESS) {
      message = s;
    } else {
      return std::nullopt;
    }
  } else {
    std::string_view object;
    auto o = json::field(obj, "object");
    if (o && o->get_string().get(object) == simdjson::SUCCESS && object == "error") {  // old vLLM / SGLang
      if (!take_message(obj)) message = "(no message)";
      take_code(obj);
    } else if (auto detail = json::field(obj, "detail")) {  // FastAPI
      std::string_view s;
      if (detail->get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
      message = s;
    } else {
      return std::nullopt;
    }
  }
  return Error{ErrorCode::http, sanitize_utf8(message), status, retryable_status(status)};
}

}  // namespace detail

const char* const kSystemFingerprint = "troupe-" TROUPE_VERSION_STRING;

const char* to_string(Api api) { return api == Api::chat ? "chat" : "completions"; }

std::optional<Api> api_from_string(std::string_view name) {
  if (name == "chat") return Api::chat;
  if (name == "completions") return Api::completions;
  return std::nullopt;
}

const char* endpoint_path(Api api) { return api == Api::chat ? "/v1/chat/completions" : "/v1/completions"; }

std::string build_request_body(const GenerateRequest& request, Api api, std::string_view model, bool stream) {
  const SamplingParams& sp = request.sampling;
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("model", request.model.empty() ? model : std::string_view(request.model));
  if (api == Api::chat) {
    w.key("messages").begin_array();
    for (const auto& m : request.messages) w.begin_object().field("role", m.role).field("content", m.content).end_object();
    w.end_array();
    if (request.continue_final_message) {
      w.field("continue_final_message", true).field("add_generation_prompt", false);
    }
  } else {
    w.field("prompt", request.prompt);
  }
  w.field("max_tokens", sp.max_tokens);
  if (sp.n != 1) w.field("n", sp.n);
  if (sp.temperature) w.field("temperature", *sp.temperature);
  if (sp.top_p) w.field("top_p", *sp.top_p);
  if (sp.top_k != 0) w.field("top_k", sp.top_k);
  if (sp.min_p != 0.0) w.field("min_p", sp.min_p);
  if (sp.repetition_penalty != 1.0) w.field("repetition_penalty", sp.repetition_penalty);
  if (sp.frequency_penalty != 0.0) w.field("frequency_penalty", sp.frequency_penalty);
  if (sp.presence_penalty != 0.0) w.field("presence_penalty", sp.presence_penalty);
  if (sp.seed) w.field("seed", static_cast<long long>(*sp.seed));
  if (!sp.stop.empty()) {
    w.key("stop").begin_array();
    for (const auto& s : sp.stop) w.value(s);
    w.end_array();
  }
  if (sp.logprobs != 0) {
    if (api == Api::chat) {
      w.field("logprobs", true);
      if (sp.logprobs > 0) w.field("top_logprobs", sp.logprobs);
    } else {
      w.field("logprobs", sp.logprobs > 0 ? sp.logprobs : 0);
    }
  }
  if (request.return_token_ids) w.field("return_token_ids", true);
  if (stream) {
    w.field("stream", true).key("stream_options").begin_object().field("include_usage", true).end_object();
  }
  w.end_object();
  return out;
}

void apply_finish_reason(Choice& choice, std::optional<std::string_view> finish_reason) {
  if (!finish_reason) {
    choice.finish = FinishReason::stop;
    choice.error = "server reported no finish_reason";
  } else if (*finish_reason == "stop") {
    choice.finish = FinishReason::stop;
  } else if (*finish_reason == "length") {
    choice.finish = FinishReason::length;
  } else if (*finish_reason == "abort") {
    choice.finish = FinishReason::cancelled;
  } else {
    choice.finish = FinishReason::stop;
    choice.error = "server finish_reason \"" + sanitize_utf8(*finish_reason) + "\" read as stop";
  }
}

Result<GenerateResult> parse_response_body(std::string_view body) {
  TROUPE_TRY_ASSIGN(auto doc, json::parse(detail::local_parser(), body, "response body"));
  TROUPE_TRY_ASSIGN(auto obj, json::as_object(doc, "response body"));
  if (auto err = detail::error_from_object(obj, 500)) return *err;
  GenerateResult result;
  if (auto m = json::field(obj, "model")) {
    TROUPE_TRY_ASSIGN(auto s, json::as_string(*m, "model"));
    result.model = s;
  }
  auto choices = json::field(obj, "choices");
  if (!choices) return Error{ErrorCode::parse, "response body: choices: missing"};
  TROUPE_TRY_ASSIGN(auto arr, json::as_array(*choices, "choices"));
  if (auto ids = json::field(obj, "prompt_token_ids")) {  // chat, with return_token_ids
    auto st = read_token_ids(*ids, "prompt_token_ids", result.prompt_token_ids);
    if (!st.ok()) return st.error();
  }
  size_t i = 0;
  for (json::Element e : arr) {
    TROUPE_TRY_ASSIGN(auto c, read_choice(e, json::join("choices", i), i));
    // Completions report the prompt's ids per choice (one prompt here).
    if (auto co = e.get_object(); co.error() == simdjson::SUCCESS && result.prompt_token_ids.empty()) {
      if (auto ids = json::field(co.value(), "prompt_token_ids")) {
        auto st = read_token_ids(*ids, json::join(json::join("choices", i), "prompt_token_ids"), result.prompt_token_ids);
        if (!st.ok()) return st.error();
      }
    }
    ++i;
    result.choices.push_back(std::move(c));
  }
  std::stable_sort(result.choices.begin(), result.choices.end(),
                   [](const Choice& a, const Choice& b) { return a.index < b.index; });
  for (size_t k = 0; k < result.choices.size(); ++k) {
    if (result.choices[k].index != static_cast<int>(k)) {
      return Error{ErrorCode::parse, "response body: choices: indices are not 0.." +
                                         std::to_string(result.choices.size() - 1)};
    }
  }
  if (auto u = json::field(obj, "usage")) {
    auto st = detail::read_usage(*u, "usage", result.usage);
    if (!st.ok()) return st.error();
  }
  return result;
}

Error parse_error_body(int http_status, std::string_view body) {
  if (auto err = error_in_payload(body, http_status)) {
    err->http_status = http_status;  // the transport status wins over a "code" in the body
    err->retryable = retryable_status(http_status);
    return *err;
  }
  std::string msg = body.empty() ? std::string("empty body") : "body: " + excerpt(body);
  return Error{ErrorCode::http, std::move(msg), http_status, retryable_status(http_status)};
}

std::optional<Error> error_in_payload(std::string_view body, int fallback_status) {
  auto& parser = detail::local_parser();
  json::Element doc;
  if (parser.parse(body.data(), body.size(), true).get(doc) != simdjson::SUCCESS) return std::nullopt;
  json::Object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return std::nullopt;
  return detail::error_from_object(obj, fallback_status);
}

Result<IncomingRequest> parse_request_body(std::string_view body, Api api) {
  auto r = parse_request_impl(body, api);
  if (!r.ok()) {
    Error e = r.error();
    e.code = ErrorCode::invalid_argument;
    return e;
  }
  return r;
}

}  // namespace troupe::engine::wire
