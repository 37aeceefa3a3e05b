// The request fields for tools and structured output, shared by
// parse_request_body (engine/wire.cpp) and its callers: `tools`,
// `tool_choice`, `parallel_tool_calls`, `response_format`, and the
// tool-related fields of chat messages (assistant `tool_calls`, tool
// `tool_call_id`/`name`). Errors are ErrorCode::parse with the field path
// first ("tools[1].function.parameters.properties.x.pattern: ..."), which
// parse_request_body turns into a 400.
//
// Bounds: at most 128 tools, names of 1..64 characters [A-Za-z0-9_-],
// schemas as JsonGrammar allows (depth 32, 4096 nodes). A schema is
// compiled here only where it will constrain decoding: response_format's
// json_schema, and the parameters of the tools a "required" or named
// tool_choice can call. JSON null for any of these fields means "not given".
#pragma once

#include <string>

#include "common/error.hpp"
#include "engine/backend.hpp"
#include "engine/json_read.hpp"

namespace troupe::engine::wire {

// Reads tools, tool_choice, parallel_tool_calls and response_format from a
// request object into `request` (chat: all; completions: response_format).
Status read_structured_fields(json::Object obj, bool chat, GenerateRequest& request);

// Reads tool_calls (assistant) and tool_call_id/name (tool) of message
// object `m` at `path` into `msg`.
Status read_message_tool_fields(json::Object m, const std::string& path, ChatMessage& msg);

}  // namespace troupe::engine::wire
