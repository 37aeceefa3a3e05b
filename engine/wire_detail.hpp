// Internal to engine/: pieces of the wire format shared by wire.cpp (whole
// replies) and sse.cpp (stream chunks). Not part of the public API.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/json_read.hpp"

namespace troupe::engine::wire::detail {

// Appends the tokens of a "logprobs" value in either shape: chat
// {"content":[{token,logprob,top_logprobs:[{token,logprob}]}]} or
// completions {"tokens":[...],"token_logprobs":[...],"top_logprobs":[{tok:lp}]}.
Status read_logprobs(json::Element value, const std::string& path, std::vector<TokenLogprob>& out);

// Reads "usage" (prompt_tokens, completion_tokens,
// prompt_tokens_details.cached_tokens) into `usage`.
Status read_usage(json::Element value, const std::string& path, Usage& usage);

// finish_reason and stop_reason of one choice object.
Status read_finish(json::Object choice, const std::string& path, Choice& out, bool& finished);

// The error an object holds when it is one of the three error shapes.
std::optional<Error> error_from_object(json::Object obj, int fallback_status);

// A thread-local parser for one-shot parses.
simdjson::dom::parser& local_parser();

}  // namespace troupe::engine::wire::detail
