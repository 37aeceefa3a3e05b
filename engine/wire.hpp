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
// return_token_ids => "return_token_ids":true (vLLM);
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
// Choice::stop_string; logprobs are read in both shapes; vLLM's token ids
// (return_token_ids) become GenerateResult::prompt_token_ids (top level for
// chat, per choice for completions) and Choice::token_ids; usage includes
// prompt_tokens_details.cached_tokens. A body that is an error payload
// yields that error (ErrorCode::http); anything malformed, ErrorCode::parse.
Result<GenerateResult> parse_response_body(std::string_view body);

// An error reply: ErrorCode::http with `http_status` and the server's
// message, retryable for 408, 429 and 5xx. A body that is not JSON (or not
// an error shape) keeps the status and a bounded excerpt of the body.
Error parse_error_body(int http_status, std::string_view body);

// When `body` (for example an SSE data payload or a 200 body) is one of the
// three error shapes: that error, with status taken from an integer "code"
// (400..599) or one of troupe's string codes (error_code_for_status), else
// `fallback_status`. Otherwise nullopt.
std::optional<Error> error_in_payload(std::string_view body, int fallback_status);

// ---- server side ----------------------------------------------------------

struct IncomingRequest {
  GenerateRequest request;  // id empty; on_delta unset
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // max_tokens or max_completion_tokens was given; otherwise
  // request.sampling.max_tokens keeps SamplingParams' default and the
  // server picks its own (troupe serve: the rest of the context).
  bool max_tokens_set = false;
  // Completions: every prompt of "prompt" (a string or a list of up to 64
  // strings); request.prompt is the first. Choice k of prompt p is
  // answered as index p * n + k, as OpenAI does. Chat: empty.
  std::vector<std::string> prompts;
};

// An incoming request body for `api`. Errors are ErrorCode::invalid_argument
// and start with the field path: "messages[2].role: expected string".
// Accepts max_tokens or max_completion_tokens, stop as string or list,
// message content as a string or a list of {"type":"text","text":...} parts
// (a null content is empty), completions prompt as a string or a list of
// strings (prompts x n at most 1024).
// Parameters (one table in wire.cpp, kParamRules): a parameter troupe
// honours and sends as null is the same as absent; user, metadata, store,
// service_tier, prompt_cache_key and safety_identifier are accepted and
// ignored; tools, tool_choice, parallel_tool_calls and response_format are
// read by engine/wire_structured.hpp (tools and tool_choice on chat only: on
// /v1/completions they are accepted only as no-ops, [] / "none" / "auto");
// functions, function_call, logit_bias, echo, best_of, suffix, modalities
// and audio are accepted only as null or a value that asks for nothing
// (echo: false, best_of: 1, ...), any other value is a 400 naming the
// parameter; keys troupe does not know are ignored (as OpenAI and vLLM do).
Result<IncomingRequest> parse_request_body(std::string_view body, Api api);

// troupe's system_fingerprint: "troupe-<version>".
extern const char* const kSystemFingerprint;

// Identity of one reply, repeated in every stream chunk.
struct ReplyMeta {
  std::string id;       // "chatcmpl-..." / "cmpl-..."
  std::string model;
  int64_t created = 0;  // unix seconds
  // Sent as system_fingerprint in every reply and chunk.
  std::string system_fingerprint = kSystemFingerprint;
  // The request asked for return_token_ids (vLLM): a chat reply carries
  // prompt_token_ids at the top level, a completions reply in each choice,
  // and every choice its sampled token_ids. Non-stream replies only.
  bool token_ids = false;
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
// `stop_string` is not empty); `logprobs`: this chunk's tokens (null when
// none), their completions text_offset counted from `text_offset`, the
// bytes of the choice's text sent before this chunk.
struct StreamPiece {
  int index = 0;
  std::string_view text;
  bool with_role = false;
  std::optional<FinishReason> finish;
  std::string_view stop_string;
  const std::vector<TokenLogprob>* logprobs = nullptr;
  size_t text_offset = 0;
  // Chat: delta.tool_calls (each with its index); finish_tool_calls makes a
  // stop finish read "tool_calls".
  const std::vector<ToolCall>* tool_calls = nullptr;
  bool finish_tool_calls = false;
};
std::string write_stream_chunk(Api api, const ReplyMeta& meta, const StreamPiece& piece);
// The final usage chunk (empty choices), sent when include_usage was asked.
std::string write_usage_chunk(Api api, const ReplyMeta& meta, const Usage& usage);

// {"error":{"message":...,"type":...,"param":...|null,"code":...|null}}:
// param and code are null when empty. code is a string, as OpenAI's.
std::string write_error_body(std::string_view message, std::string_view type, std::string_view param,
                             std::string_view code);

// The error.code string troupe sends for an HTTP status ("invalid_request"
// for 400, "invalid_api_key" for 401, "not_found" for 404, ...; empty =
// null for statuses without one).
const char* error_code_for_status(int status);

// "data: <payload>\n\n".
std::string sse_frame(std::string_view payload);

// The field path an Error from parse_request_body names ("messages[2].role"),
// or empty when it names none.
std::string error_param(const Error& error);

}  // namespace troupe::engine::wire
