// The text subset of OpenAI's Responses API (POST /v1/responses), served by
// OpenAIServer on top of the same Backend as chat completions.
//
// What callers may rely on:
// - parse_responses_request() reads "input" (a string, or a list of
//   messages {role, content} with content a string or a list of
//   input_text/output_text parts; "type":"message" optional),
//   "instructions" (a system message put first), "max_output_tokens",
//   "temperature", "top_p", "stream", and returns a chat request. Other
//   input item types (function calls, item references, images) are a 400
//   naming the item. tools/tool_choice/text.format/previous_response_id/
//   conversation/background/top_logprobs are accepted only as null or a
//   value that asks for nothing; user, metadata, store, include,
//   truncation, service_tier, parallel_tool_calls, reasoning,
//   prompt_cache_key and safety_identifier are ignored, as are unknown keys.
//   Errors are ErrorCode::invalid_argument starting with the field path.
// - write_response_object() writes the response object (object
//   "response", status completed | incomplete (max_output_tokens reached,
//   incomplete_details.reason "max_output_tokens") | failed, one output
//   message with one output_text part, usage in input/output tokens).
// - ResponsesStream writes the stream as OpenAI does: "event: <type>" +
//   "data: <json>" frames with a growing sequence_number: response.created,
//   response.in_progress, response.output_item.added,
//   response.content_part.added, response.output_text.delta per piece,
//   then response.output_text.done, response.content_part.done,
//   response.output_item.done and response.completed (or
//   response.incomplete); an error is an "error" event then
//   response.failed. There is no [DONE] sentinel.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/json_writer.hpp"
#include "engine/backend.hpp"
#include "engine/wire.hpp"

namespace troupe::engine::wire {

struct ResponsesRequest {
  IncomingRequest chat;  // kind chat; stream set; max_tokens_set from max_output_tokens
  std::string instructions;
  std::optional<int> max_output_tokens;
};

Result<ResponsesRequest> parse_responses_request(std::string_view body);

// The identity and echoed settings of one response.
struct ResponsesMeta {
  std::string id;       // "resp_..."
  std::string item_id;  // "msg_..."
  std::string model;
  int64_t created = 0;  // unix seconds
  std::string instructions;
  std::optional<int> max_output_tokens;
  std::optional<double> temperature;
  std::optional<double> top_p;
};

// The response object for a finished request (`result`), one in progress
// (both null), or a failed one (`error`).
std::string write_response_object(const ResponsesMeta& meta, const GenerateResult* result, const Error* error);

class ResponsesStream {
 public:
  explicit ResponsesStream(ResponsesMeta meta) : meta_(std::move(meta)) {}
  // created, in_progress, output_item.added, content_part.added.
  std::string begin();
  std::string delta(std::string_view text);
  // The done events and completed/incomplete, for the whole text.
  std::string finish(const GenerateResult& result);
  std::string fail(const Error& error, int status);

 private:
  // "event: <type>\ndata: {"type":...,"sequence_number":...,<fields>}\n\n".
  std::string event(std::string_view type, const std::function<void(JsonWriter&)>& fields);
  ResponsesMeta meta_;
  int64_t sequence_ = 0;
};

}  // namespace troupe::engine::wire
