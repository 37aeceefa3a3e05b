// The server's half of the OpenAI wire format: reply bodies, stream
// chunks, usage chunks and error bodies as troupe serve and the daemon's
// OpenAI front write them (declared in engine/wire.hpp). The request reader
// and the client's half are in wire.cpp.
#include <string>
#include <vector>

#include "common/json_writer.hpp"
#include "engine/wire.hpp"
#include "engine/wire_detail.hpp"

namespace troupe::engine::wire {
namespace {
void write_logprobs_chat(JsonWriter& w, const std::vector<TokenLogprob>& lps) {
  w.begin_object().key("content").begin_array();
  for (const auto& t : lps) {
    w.begin_object().field("token", t.token).field("logprob", t.logprob).key("top_logprobs").begin_array();
    for (const auto& alt : t.top) w.begin_object().field("token", alt.token).field("logprob", alt.logprob).end_object();
    w.end_array().end_object();
  }
  w.end_array().end_object();
}

void write_logprobs_completion(JsonWriter& w, const std::vector<TokenLogprob>& lps, size_t text_offset) {
  w.begin_object().key("tokens").begin_array();
  for (const auto& t : lps) w.value(t.token);
  w.end_array().key("token_logprobs").begin_array();
  for (const auto& t : lps) w.value(t.logprob);
  w.end_array().key("top_logprobs").begin_array();
  for (const auto& t : lps) {
    w.begin_object();
    for (const auto& alt : t.top) w.field(alt.token, alt.logprob);
    w.end_object();
  }
  w.end_array().key("text_offset").begin_array();
  size_t offset = text_offset;
  for (const auto& t : lps) {
    w.value(static_cast<unsigned long long>(offset));
    offset += t.token.size();
  }
  w.end_array().end_object();
}

void write_logprobs(JsonWriter& w, Api api, const std::vector<TokenLogprob>* lps, size_t text_offset = 0) {
  if (lps == nullptr || lps->empty()) {
    w.null();
  } else if (api == Api::chat) {
    write_logprobs_chat(w, *lps);
  } else {
    write_logprobs_completion(w, *lps, text_offset);
  }
}

void write_usage(JsonWriter& w, const Usage& usage) {
  w.begin_object()
      .field("prompt_tokens", static_cast<long long>(usage.prompt_tokens))
      .field("completion_tokens", static_cast<long long>(usage.completion_tokens))
      .field("total_tokens", static_cast<long long>(usage.prompt_tokens + usage.completion_tokens));
  if (usage.cached_prompt_tokens > 0) {
    w.key("prompt_tokens_details")
        .begin_object()
        .field("cached_tokens", static_cast<long long>(usage.cached_prompt_tokens))
        .end_object();
  }
  w.end_object();
}

}  // namespace

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "abort";
    case FinishReason::error: return "error";
  }
  return "stop";
}

namespace {

// "tool_calls":[{"index":i,"id":...,"type":"function","function":{"name":...,"arguments":...}}]
void write_tool_calls(JsonWriter& w, const std::vector<ToolCall>& calls, bool with_index) {
  w.key("tool_calls").begin_array();
  for (size_t i = 0; i < calls.size(); ++i) {
    w.begin_object();
    if (with_index) w.field("index", static_cast<int>(i));
    w.field("id", calls[i].id).field("type", "function");
    w.key("function").begin_object().field("name", calls[i].name).field("arguments", calls[i].arguments).end_object();
    w.end_object();
  }
  w.end_array();
}

void write_ids(JsonWriter& w, std::string_view key, const std::vector<int32_t>& ids) {
  w.key(key).begin_array();
  for (int32_t id : ids) w.value(static_cast<int>(id));
  w.end_array();
}

}  // namespace

std::string write_response_body(const GenerateResult& result, Api api, const ReplyMeta& meta) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("id", meta.id)
      .field("object", api == Api::chat ? "chat.completion" : "text_completion")
      .field("created", static_cast<long long>(meta.created))
      .field("model", meta.model)
      .field("system_fingerprint", meta.system_fingerprint)
      .key("choices")
      .begin_array();
  for (const auto& c : result.choices) {
    w.begin_object().field("index", c.index);
    if (api == Api::chat) {
      w.key("message").begin_object().field("role", "assistant");
      if (c.tool_calls.empty()) {
        w.field("content", c.text);
      } else {
        w.key("content");
        if (c.text.empty()) {
          w.null();
        } else {
          w.value(c.text);
        }
        write_tool_calls(w, c.tool_calls, false);
      }
      w.end_object();
    } else {
      w.field("text", c.text);
    }
    if (meta.token_ids) {
      if (api != Api::chat) write_ids(w, "prompt_token_ids", result.prompt_token_ids);
      write_ids(w, "token_ids", c.token_ids);
    }
    w.key("logprobs");
    write_logprobs(w, api, &c.logprobs);
    const bool called = !c.tool_calls.empty() && c.finish == FinishReason::stop;
    w.field("finish_reason", called ? "tool_calls" : finish_reason_name(c.finish)).key("stop_reason");
    if (c.stop_string.empty()) {
      w.null();
    } else {
      w.value(c.stop_string);
    }
    w.end_object();
  }
  w.end_array();
  if (meta.token_ids && api == Api::chat) write_ids(w, "prompt_token_ids", result.prompt_token_ids);
  w.key("usage");
  write_usage(w, result.usage);
  w.end_object();
  return out;
}

std::string write_stream_chunk(Api api, const ReplyMeta& meta, const StreamPiece& piece) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("id", meta.id)
      .field("object", api == Api::chat ? "chat.completion.chunk" : "text_completion")
      .field("created", static_cast<long long>(meta.created))
      .field("model", meta.model)
      .field("system_fingerprint", meta.system_fingerprint)
      .key("choices")
      .begin_array()
      .begin_object()
      .field("index", piece.index);
  if (api == Api::chat) {
    w.key("delta").begin_object();
    if (piece.with_role) w.field("role", "assistant");
    if (!piece.text.empty() || piece.with_role) w.field("content", piece.text);
    if (piece.tool_calls && !piece.tool_calls->empty()) write_tool_calls(w, *piece.tool_calls, true);
    w.end_object();
  } else {
    w.field("text", piece.text);
  }
  w.key("logprobs");
  write_logprobs(w, api, piece.logprobs, piece.text_offset);
  w.key("finish_reason");
  if (piece.finish) {
    w.value(piece.finish_tool_calls && *piece.finish == FinishReason::stop ? "tool_calls"
                                                                            : finish_reason_name(*piece.finish));
  } else {
    w.null();
  }
  w.key("stop_reason");
  if (piece.finish && !piece.stop_string.empty()) {
    w.value(piece.stop_string);
  } else {
    w.null();
  }
  w.end_object().end_array().end_object();
  return out;
}

std::string write_usage_chunk(Api api, const ReplyMeta& meta, const Usage& usage) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("id", meta.id)
      .field("object", api == Api::chat ? "chat.completion.chunk" : "text_completion")
      .field("created", static_cast<long long>(meta.created))
      .field("model", meta.model)
      .field("system_fingerprint", meta.system_fingerprint)
      .key("choices")
      .begin_array()
      .end_array()
      .key("usage");
  write_usage(w, usage);
  w.end_object();
  return out;
}

std::string write_error_body(std::string_view message, std::string_view type, std::string_view param,
                             std::string_view code) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("error").begin_object().field("message", message).field("type", type).key("param");
  if (param.empty()) {
    w.null();
  } else {
    w.value(param);
  }
  w.key("code");
  if (code.empty()) {
    w.null();
  } else {
    w.value(code);
  }
  w.end_object().end_object();
  return out;
}

const char* error_code_for_status(int status) {
  switch (status) {
    case 400: return "invalid_request";
    case 401: return "invalid_api_key";
    case 404: return "not_found";
    case 408: return "request_timeout";
    case 413: return "request_too_large";
    case 415: return "unsupported_media_type";
    case 429: return "rate_limit_exceeded";
    case 499: return "client_closed_request";
    case 500: return "internal_error";
    case 502: return "upstream_error";
    case 503: return "unavailable";
    case 504: return "upstream_timeout";
    default: return status >= 400 && status < 500 ? "invalid_request" : "";
  }
}

std::string sse_frame(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 8);
  out += "data: ";
  out += payload;
  out += "\n\n";
  return out;
}

std::string error_param(const Error& error) {
  const std::string& m = error.message;
  size_t colon = m.find(": ");
  if (colon == std::string::npos || colon == 0) return {};
  std::string head = m.substr(0, colon);
  if (head.find(' ') != std::string::npos) return {};  // "request body: invalid JSON"
  return head;
}

}  // namespace troupe::engine::wire
