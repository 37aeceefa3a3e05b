// The OpenAI/vLLM JSON shapes (docs formats.md §2.2-2.3), shared by the HTTP
// client (engine/http) and the OpenAI-compatible server (engine/serve).
//
// Client side: build_request_body() writes a request; parse_response_body()
// reads a non-stream reply; parse_error_body() reads any of the three error
// shapes (OpenAI, flat old-vLLM/SGLang, llama.cpp) or a non-JSON body.
// Streams are read with SseParser + StreamAccumulator (engine/sse.hpp).
// Server side: parse_request_body() reads an incoming request with errors
// that name the field ("messages[2].role: expected string"); the write_*
// functions produce replies, stream chunks and OpenAI-shaped error bodies.
//
// Every parser takes untrusted bytes and returns an Error for anything
// malformed; none throws or crashes. All JSON output goes through JsonWriter
// and is valid UTF-8. Functions are thread-safe (each uses a thread-local
// simdjson parser).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "engine/backend.hpp"

namespace troupe::engine::wire {

enum class Api { chat, completions };

// "chat" | "completions".
const char* to_string(Api api);
std::optional<Api> api_from_string(std::string_view name);
// "/v1/chat/completions" | "/v1/completions".
const char* endpoint_path(Api api);

// ---- client side ----------------------------------------------------------

// The request body for `api`. Sent: model, messages (chat) or prompt
// (completions), max_tokens; n only when != 1; temperature/top_p/seed only
// when set; top_k/min_p only when non-zero (vLLM extras, top level); stop
// when non-empty; logprobs (chat: "logprobs":true + "top_logprobs":N, or
// only "logprobs":true for -1; completions: "logprobs":N, 0 for -1);
// continue_final_message => "continue_final_message":true,
// "add_generation_prompt":false (chat only); stream => "stream":true and
// "stream_options":{"include_usage":true}. `model` replaces an empty
// request.model. The caller has checked that request.kind matches `api`.
std::string build_request_body(const GenerateRequest& request, Api api, std::string_view model, bool stream);

// Maps a wire finish_reason onto `choice`: "stop"/"length" as is, "abort"
// -> cancelled; anything else (tool_calls, content_filter, null) -> stop
// with a note in choice.error naming what the server said.
void apply_finish_reason(Choice& choice, std::optional<std::string_view> finish_reason);

// A non-stream reply of either endpoint (detected per choice: "message" or
// "text"). Choices are sorted by index; vLLM's string stop_reason becomes
// Choice::stop_string; logprobs are read in both shapes; usage includes
// prompt_tokens_details.cached_tokens. A body that is an error payload
// yields that error (ErrorCode::http); anything malformed, ErrorCode::parse.
Result<GenerateResult> parse_response_body(std::string_view body);

// An error reply: ErrorCode::http with `http_status` and the server's
// message, retryable for 408, 429 and 5xx. A body that is not JSON (or not
// an error shape) keeps the status and a bounded excerpt of the body.
Error parse_error_body(int http_status, std::string_view body);

// When `body` (for example an SSE data payload or a 200 body) is one of the
// three error shapes: that error, with status taken from an integer "code"
// (400..599) else `fallback_status`. Otherwise nullopt.
std::optional<Error> error_in_payload(std::string_view body, int fallback_status);

// ---- server side ----------------------------------------------------------

struct IncomingRequest {
  GenerateRequest request;  // id empty; on_delta unset
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// An incoming request body for `api`. Errors are ErrorCode::invalid_argument
// and start with the field path: "messages[2].role: expected string".
// Accepts max_tokens or max_completion_tokens, stop as string or list,
// message content as a string or a list of {"type":"text","text":...} parts,
// completions prompt as a string or a one-element list of strings.
// Unknown keys are ignored (as vLLM does). tools, tool_choice and
// response_format are read by engine/wire_structured.hpp.
Result<IncomingRequest> parse_request_body(std::string_view body, Api api);

// Identity of one reply, repeated in every stream chunk.
struct ReplyMeta {
  std::string id;       // "chatcmpl-..." / "cmpl-..."
  std::string model;
  int64_t created = 0;  // unix seconds
};

// The wire name of a finish reason: stop, length, abort (cancelled), error.
const char* finish_reason_name(FinishReason reason);

// A complete non-stream reply in `api`'s shape. A chat choice with
// tool_calls has message.tool_calls, content null when its text is empty,
// and finish_reason "tool_calls".
std::string write_response_body(const GenerateResult& result, Api api, const ReplyMeta& meta);

// One stream chunk for choice `index`: `text` as delta.content (chat) or
// text (completions); `with_role` adds "role":"assistant" (chat's first
// chunk); `finish` set => finish_reason (and stop_reason when
// `stop_string` is not empty).
struct StreamPiece {
  int index = 0;
  std::string_view text;
  bool with_role = false;
  std::optional<FinishReason> finish;
  std::string_view stop_string;
  const std::vector<TokenLogprob>* logprobs = nullptr;
  // Chat: delta.tool_calls (each with its index); finish_tool_calls makes a
  // stop finish read "tool_calls".
  const std::vector<ToolCall>* tool_calls = nullptr;
  bool finish_tool_calls = false;
};
std::string write_stream_chunk(Api api, const ReplyMeta& meta, const StreamPiece& piece);
// The final usage chunk (empty choices), sent when include_usage was asked.
std::string write_usage_chunk(Api api, const ReplyMeta& meta, const Usage& usage);

// {"error":{"message":...,"type":...,"param":...|null,"code":code}}.
std::string write_error_body(std::string_view message, std::string_view type, std::string_view param, int code);

// "data: <payload>\n\n".
std::string sse_frame(std::string_view payload);

// The field path an Error from parse_request_body names ("messages[2].role"),
// or empty when it names none.
std::string error_param(const Error& error);

}  // namespace troupe::engine::wire
