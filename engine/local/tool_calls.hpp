// Tools for the local engine's chat formats: how a request's tools and
// tool messages are written into the prompt, the grammar that forces a
// call (tool_choice "required" or named), and how calls are read back out
// of the model's text.
//
// Formats (docs/engine.md, "Tool calls"):
// - chatml (Qwen 2.5) and llama2 ("tagged"): the tools are listed, one JSON
//   object a line, between <tools> and </tools> in a "# Tools" section
//   appended to the system message (one is added when the request has
//   none); a call is `<tool_call>\n{"name": NAME, "arguments": {...}}\n</tool_call>`;
//   tool results go back as a user turn of <tool_response>...</tool_response>
//   blocks.
// - llama3 (Llama 3.1 JSON calling): the tools and the instruction go into
//   the first user message; a call is the whole reply
//   `{"name": NAME, "parameters": {...}}` (a leading <|python_tag|> is
//   dropped when parsing); tool results are "ipython" turns.
// What callers may rely on:
// - parse_tool_calls() never fails: text that is not a well-formed call
//   stays content. Calls get ids "call_<24 hex>" and arguments as compact
//   JSON text of an object.
// - forced_call_grammar() accepts exactly one call to a listed tool whose
//   arguments match that tool's parameters schema.
#pragma once

#include <memory>
#include <vector>

#include "common/error.hpp"
#include "engine/backend.hpp"
#include "engine/json_grammar.hpp"
#include "engine/local/chat_template.hpp"

namespace troupe::engine::local {

// The messages to render for a chat request (tools listed, tool calls and
// tool results written out), in the template's roles.
Result<std::vector<ChatMessage>> messages_with_tools(ChatStyle style, const GenerateRequest& request);

// One call to one of the tools (the named one for ToolChoice::named).
Result<std::shared_ptr<const JsonGrammar>> forced_call_grammar(ChatStyle style, const GenerateRequest& request);

// Moves well-formed calls out of `text` into `calls`; `text` keeps the rest
// (trimmed).
void parse_tool_calls(ChatStyle style, std::string& text, std::vector<ToolCall>& calls);

// True when the request's chat needs the tool-aware rendering.
bool uses_tools(const GenerateRequest& request);

}  // namespace troupe::engine::local
