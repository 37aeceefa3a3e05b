#include "memory/step_json.hpp"

#include <cmath>
#include <cstring>

#include <simdjson.h>

namespace troupe::memory {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> unbase64(std::string_view text, const char* what) {
  auto bad = [&] { return Error(ErrorCode::parse, std::string(what) + " is not base64"); };
  if (text.size() % 4 != 0) return bad();
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = text[i + k];
      uint32_t d = 0;
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        ++pad;
      } else if (pad) {
        return bad();
      } else if (const char* p = static_cast<const char*>(std::memchr(kB64, c, 64)); p && c) {
        d = static_cast<uint32_t>(p - kB64);
      } else {
        return bad();
      }
      v = (v << 6) | d;
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 255);
    if (pad < 1) out += static_cast<char>(v & 255);
  }
  return out;
}

void write_messages(JsonWriter& w, const std::vector<Message>& messages) {
  w.begin_array();
  for (const auto& m : messages) w.begin_object().field("role", m.role).field("content", m.content).end_object();
  w.end_array();
}

}  // namespace

// A JSON object or array as itself; anything else as null.
void raw_json_or_null(JsonWriter& w, const std::string& text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  size_t last = text.find_last_not_of(" \t\r\n");
  const bool looks = first != std::string::npos && ((text[first] == '{' && text[last] == '}') ||
                                                    (text[first] == '[' && text[last] == ']'));
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (looks && !parser.parse(text).get(e)) w.raw(text);
  else w.null();
}

void write_logprob(JsonWriter& w, double value) {
  if (std::isfinite(value)) w.value(value);
  else w.null();
}

std::string pack_token_ids(const std::vector<int32_t>& ids) {
  std::string bytes;
  bytes.reserve(ids.size() * 3);
  for (int32_t id : ids) {
    uint32_t v = static_cast<uint32_t>(id);
    while (v >= 0x80) {
      bytes += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    bytes += static_cast<char>(v);
  }
  return base64(bytes);
}

Result<std::vector<int32_t>> unpack_token_ids(std::string_view packed) {
  auto bytes = unbase64(packed, "packed token ids");
  if (!bytes) return bytes.error();
  std::vector<int32_t> out;
  uint64_t v = 0;
  int shift = 0;
  for (char ch : *bytes) {
    const uint8_t b = static_cast<uint8_t>(ch);
    if (shift > 28) return Error(ErrorCode::parse, "packed token ids: a varint is too long");
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b & 0x80) {
      shift += 7;
      continue;
    }
    if (v > INT32_MAX) return Error(ErrorCode::parse, "packed token ids: an id is above INT32_MAX");
    out.push_back(static_cast<int32_t>(v));
    v = 0;
    shift = 0;
  }
  if (shift != 0) return Error(ErrorCode::parse, "packed token ids: the last varint is cut short");
  return out;
}

std::string pack_logprobs(const std::vector<double>& values) {
  std::string bytes(values.size() * 4, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    float f = static_cast<float>(values[i]);
    uint32_t u = 0;
    std::memcpy(&u, &f, 4);
    for (int k = 0; k < 4; ++k) bytes[i * 4 + k] = static_cast<char>((u >> (8 * k)) & 255);
  }
  return base64(bytes);
}

Result<std::vector<double>> unpack_logprobs(std::string_view packed) {
  auto bytes = unbase64(packed, "packed logprobs");
  if (!bytes) return bytes.error();
  if (bytes->size() % 4 != 0) return Error(ErrorCode::parse, "packed logprobs: not a whole number of float32 values");
  std::vector<double> out(bytes->size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t u = 0;
    for (int k = 0; k < 4; ++k) u |= static_cast<uint32_t>(static_cast<uint8_t>((*bytes)[i * 4 + k])) << (8 * k);
    float f = 0;
    std::memcpy(&f, &u, 4);
    out[i] = f;
  }
  return out;
}

void write_step_fields(JsonWriter& w, const StepRecord& s, StepShape shape, const StepBlobKeys& keys) {
  const bool api = shape == StepShape::api;
  if (!api) w.field("run_id", s.run_id);
  w.field("seq", static_cast<unsigned long long>(s.seq)).field("role", s.role).field("kind", s.kind);
  w.key("parents").begin_array();
  for (uint64_t p : s.parents) w.value(static_cast<unsigned long long>(p));
  w.end_array();
  if (api) {
    w.key("prompt");
    write_messages(w, s.prompt);
  } else if (!keys.prompt.empty()) {
    w.field("prompt_blob", keys.prompt);
  }
  w.field("completion", s.completion).field("answer", s.answer);
  auto opt_bool = [&](const char* k, const std::optional<bool>& v) {
    if (v) w.field(k, *v);
    else if (api) w.key(k).null();
  };
  opt_bool("verdict", s.verdict);
  if (s.score) w.field("score", *s.score);
  else if (api) w.key("score").null();
  opt_bool("label", s.label);
  w.field("prompt_tokens", static_cast<long long>(s.prompt_tokens))
      .field("cached_prompt_tokens", static_cast<long long>(s.cached_prompt_tokens))
      .field("completion_tokens", static_cast<long long>(s.completion_tokens))
      .field("finish_reason", s.finish_reason)
      .field("latency_ms", s.latency_ms)
      .field("backend", s.backend);
  if (api) {
    w.key("sampling");
    raw_json_or_null(w, s.sampling_json);
    w.key("meta");
    raw_json_or_null(w, s.meta_json);
  } else {
    w.field("sampling_json", s.sampling_json).field("meta_json", s.meta_json);
  }
  w.field("created_ms", static_cast<long long>(s.created_ms));
  // Token-exact fields (absent from the stored shape when empty).
  if (api) {
    w.key("prompt_token_ids").begin_array();
    for (int32_t id : s.prompt_token_ids) w.value(id);
    w.end_array().key("completion_token_ids").begin_array();
    for (int32_t id : s.completion_token_ids) w.value(id);
    w.end_array().key("token_logprobs").begin_array();
    for (double v : s.token_logprobs) write_logprob(w, v);
    w.end_array().key("top_logprobs");
    raw_json_or_null(w, s.top_logprobs_json);
  } else {
    if (!keys.prompt_ids.empty()) w.field("prompt_ids_blob", keys.prompt_ids);
    if (!s.completion_token_ids.empty()) w.field("completion_ids", pack_token_ids(s.completion_token_ids));
    if (!s.token_logprobs.empty()) w.field("logprobs", pack_logprobs(s.token_logprobs));
    if (!s.top_logprobs_json.empty()) w.field("top_logprobs_json", s.top_logprobs_json);
  }
  if (api || !s.tokens_unavailable.empty()) {
    w.key("tokens_unavailable").begin_array();
    for (const auto& u : s.tokens_unavailable) w.value(u);
    w.end_array();
  }
  if (api || !s.token_info.empty()) w.field("token_info", s.token_info);
}

}  // namespace troupe::memory
