// The one interface every LLM backend implements: the vLLM/OpenAI HTTP
// client (engine/http), the scripted test backend (engine/scripted) and the
// in-process engine (engine/local, later).
//
// A Backend turns GenerateRequests into GenerateResults. submit() never
// blocks: it queues the request and calls `done` exactly once, on a backend
// thread (or, for a request rejected up front, possibly on the caller's
// thread before submit returns), with either n choices or an Error. It is
// safe to call submit() and cancel() from any thread. cancel() of a request
// that already finished, or of an unknown id, is a no-op; a cancelled
// request still gets its one callback, with the choices finished so far and
// the rest marked FinishReason::cancelled (or an ErrorCode::cancelled error
// when nothing was produced). Destroying a Backend cancels what is in flight
// and delivers every outstanding callback before the destructor returns.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace troupe::engine {

class JsonGrammar;  // engine/json_grammar.hpp

// A function call the model made (OpenAI tool_calls[i]).
struct ToolCall {
  std::string id;         // "call_..."
  std::string name;
  std::string arguments;  // JSON text of an object
};

struct ChatMessage {
  ChatMessage() = default;
  ChatMessage(std::string role_, std::string content_) : role(std::move(role_)), content(std::move(content_)) {}
  std::string role;  // "system" | "user" | "assistant" | "tool"
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant messages that called tools
  std::string tool_call_id;          // role "tool": the call this answers
  std::string name;                  // role "tool": the function's name, when given
};

// A function the model may call (OpenAI tools[i] of type "function").
struct ToolSpec {
  std::string name;
  std::string description;
  std::string parameters;  // JSON Schema text; empty = none given
};

// none: never call; automatic: the model decides (calls are parsed from its
// text); required: at least one call, forced by constrained decoding;
// named: a call to `tool_choice_name`, forced likewise.
enum class ToolChoice { none, automatic, required, named };

// Sampling parameters in vLLM's vocabulary. Unset optionals are left to the
// server (vLLM then applies the model's generation_config.json).
struct SamplingParams {
  int n = 1;
  std::optional<double> temperature;
  std::optional<double> top_p;
  int top_k = 0;        // 0 = off
  double min_p = 0.0;   // 0 = off
  std::optional<int64_t> seed;
  int max_tokens = 256;  // always sent explicitly (vLLM's default is 16)
  std::vector<std::string> stop;
  int logprobs = 0;      // top-N alternatives per token; 0 = none, -1 = chosen token only
  double repetition_penalty = 1.0;  // 1 = off (vLLM extra)
  double frequency_penalty = 0.0;
  double presence_penalty = 0.0;
};

struct TopLogprob {
  std::string token;
  double logprob = 0.0;
};

struct TokenLogprob {
  std::string token;
  double logprob = 0.0;
  std::vector<TopLogprob> top;
};

enum class PromptKind { chat, text };

struct GenerateRequest {
  std::string id;     // unique per request; used by cancel(). Filled by submit() if empty.
  std::string model;  // empty = the backend's configured model
  PromptKind kind = PromptKind::chat;
  std::vector<ChatMessage> messages;  // kind == chat
  std::string prompt;                 // kind == text (raw text, template already applied)
  // Chat only: the last message is an unfinished assistant message to be
  // continued (vLLM continue_final_message=true, add_generation_prompt=false).
  bool continue_final_message = false;
  SamplingParams sampling;
  // Structured output (backends that cannot constrain refuse a request that
  // sets them): the text must be a document of this grammar
  // (response_format json_object / json_schema).
  std::shared_ptr<const JsonGrammar> response_grammar;
  // Chat only: functions the model may call, and how (backends without
  // tool support refuse non-empty tools).
  std::vector<ToolSpec> tools;
  ToolChoice tool_choice = ToolChoice::automatic;
  std::string tool_choice_name;  // ToolChoice::named
  // Optional: called with each piece of text as it is generated (streaming
  // backends), on a backend thread, before `done`. `index` is the choice.
  std::function<void(int index, const std::string& delta)> on_delta;
  // Optional: called with each sampled token's logprobs when logprobs were
  // asked (backends that sample locally), on a backend thread, before the
  // on_delta that carries its text. Others report logprobs only in the result.
  std::function<void(int index, const TokenLogprob& logprob)> on_logprobs;
  // Ask for the prompt's and each choice's token ids (vLLM's
  // "return_token_ids": true). The local engine always reports them; an
  // HTTP backend sends the flag unless "return_token_ids" is listed in its
  // unsupported parameters, and reports what the server returned.
  bool return_token_ids = false;
};

enum class FinishReason { stop, length, cancelled, error };
const char* to_string(FinishReason r);

struct Choice {
  int index = 0;
  std::string text;
  std::vector<int32_t> token_ids;  // the sampled tokens, when the backend reports them
  std::vector<TokenLogprob> logprobs;  // when asked; one per sampled token
  FinishReason finish = FinishReason::stop;
  std::string stop_string;  // the matched stop string, if any
  // Why it finished, for people, when `finish` alone does not say it: e.g.
  // a FinishReason::length that hit the model's context, not max_tokens.
  std::string finish_detail;
  std::string error;        // FinishReason::error: why
  // Calls parsed out of the text when the request had tools; `text` then
  // keeps only what was written outside the calls. Non-empty means the
  // wire finish_reason is "tool_calls".
  std::vector<ToolCall> tool_calls;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct GenerateResult {
  std::string request_id;
  std::string model;
  std::vector<Choice> choices;  // sorted by index, size == sampling.n on success
  // The prompt as the model saw it, when the backend reports it: the local
  // engine always; vLLM when asked with return_token_ids. Empty = unknown.
  std::vector<int32_t> prompt_token_ids;
  // How prompt_token_ids were made, for records: e.g. that a continuation
  // extended an earlier sequence's tokens, or was tokenized afresh because
  // none matched. Empty = nothing to say.
  std::string token_info;
  Usage usage;
  double latency_ms = 0.0;
  int attempts = 1;  // how many times the request was sent (retries + 1)
};

using GenerateCallback = std::function<void(Result<GenerateResult>)>;

// What a backend is, for records and receipts.
struct BackendInfo {
  std::string kind;   // "http", "scripted", "local"
  std::string model;  // default model name
  std::string endpoint;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual void submit(GenerateRequest request, GenerateCallback done) = 0;
  virtual void cancel(const std::string& request_id) = 0;
  virtual BackendInfo info() const = 0;
};

// Applies `stop` strings to `text` as a server does: cuts at the earliest
// match and returns the matched string (empty when none matched).
std::string apply_stop_strings(std::string& text, const std::vector<std::string>& stop);

}  // namespace troupe::engine
