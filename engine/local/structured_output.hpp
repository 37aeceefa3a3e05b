// What the scheduler does for a request with tools or a response format:
// plan_structured() renders the prompt (tool-aware when needed) and picks
// the grammar that constrains sampling; sample_constrained() samples under
// it; StructuredPlan::parse_calls() moves tool calls out of a finished
// choice's text.
//
// What callers may rely on:
// - Without tools, tool messages or a response grammar the plan is empty
//   (the scheduler renders and samples as before).
// - Tools (tool_choice auto/required/named) or tool messages need a chat
//   template: without one the request fails naming --chat-template.
// - tool_choice "required"/named: the grammar is forced_call_grammar();
//   otherwise the request's response_grammar (or none).
// - sample_constrained() only ever returns a token the constraint allows;
//   when none is allowed (a vocabulary missing bytes the grammar needs) it
//   returns an end-of-generation id, so the choice stops (logged).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "engine/backend.hpp"
#include "engine/local/chat_template.hpp"
#include "engine/local/sampler.hpp"
#include "engine/local/scheduler.hpp"
#include "engine/local/token_constraint.hpp"

namespace troupe::engine::local {

struct StructuredPlan {
  std::optional<std::string> rendered;            // the chat prompt, when rendered with tools
  std::shared_ptr<const JsonGrammar> grammar;     // constrains sampling when set
  std::optional<ChatStyle> tool_style;            // parse tool calls from the output
  void parse_calls(engine::Choice& choice) const;
};

Result<StructuredPlan> plan_structured(const GenerateRequest& request, const ChatTemplate* tmpl);

std::shared_ptr<const VocabTrie> build_vocab_trie(const TextCodec& codec, int vocab_size);

SampledToken sample_constrained(std::span<const float> logits, const SamplerParams& params,
                                std::span<const int32_t> history, SequenceRng& rng, TokenConstraint* constraint);

}  // namespace troupe::engine::local
