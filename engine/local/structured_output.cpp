#include "engine/local/structured_output.hpp"

#include <spdlog/spdlog.h>

#include "engine/local/tool_calls.hpp"

namespace troupe::engine::local {

void StructuredPlan::parse_calls(engine::Choice& choice) const {
  if (!tool_style) return;
  parse_tool_calls(*tool_style, choice.text, choice.tool_calls);
}

Result<StructuredPlan> plan_structured(const GenerateRequest& r, const ChatTemplate* tmpl) {
  StructuredPlan plan;
  plan.grammar = r.response_grammar;
  if (r.kind != PromptKind::chat || !uses_tools(r)) return plan;
  if (!tmpl) {
    return Error{ErrorCode::unsupported,
                 "tools and tool messages need a chat template: the model has none this engine recognises (start "
                 "with --chat-template chatml|llama3|llama2)"};
  }
  if (r.continue_final_message)
    return Error{ErrorCode::invalid_argument, "continue_final_message cannot be combined with tools"};
  auto msgs = messages_with_tools(tmpl->style(), r);
  if (!msgs.ok()) return msgs.error();
  auto text = tmpl->render(*msgs);
  if (!text.ok()) return text.error();
  plan.rendered = std::move(*text);
  if (!r.tools.empty() && r.tool_choice != ToolChoice::none) {
    plan.tool_style = tmpl->style();
    if (r.tool_choice == ToolChoice::required || r.tool_choice == ToolChoice::named) {
      auto g = forced_call_grammar(tmpl->style(), r);
      if (!g.ok()) return g.error();
      plan.grammar = *g;
    }
  }
  return plan;
}

std::shared_ptr<const VocabTrie> build_vocab_trie(const TextCodec& codec, int vocab_size) {
  std::vector<std::string> pieces(static_cast<size_t>(vocab_size));
  std::vector<int32_t> eos;
  for (int32_t id = 0; id < vocab_size; ++id) {
    if (codec.is_eos(id)) {
      eos.push_back(id);
      continue;
    }
    pieces[static_cast<size_t>(id)] = codec.piece(id);
  }
  return std::make_shared<VocabTrie>(pieces, std::move(eos));
}

SampledToken sample_constrained(std::span<const float> logits, const SamplerParams& params,
                                std::span<const int32_t> history, SequenceRng& rng, TokenConstraint* constraint) {
  if (!constraint) return Sampler::sample(logits, params, history, rng);
  static thread_local std::vector<float> masked;
  masked.assign(logits.begin(), logits.end());
  if (!constraint->mask(masked)) {
    spdlog::warn("constrained decoding: no token of the vocabulary can continue the document; stopping");
    SampledToken t;
    t.id = constraint->fallback_end();
    return t;
  }
  SampledToken t = Sampler::sample(masked, params, history, rng);
  if (!constraint->allows(t.id)) {
    // Only a zero-probability pick at a filter's edge could land here: take
    // the best allowed token instead.
    int32_t best = -1;
    for (size_t i = 0; i < masked.size(); ++i)
      if (constraint->allows(static_cast<int32_t>(i)) && (best < 0 || masked[i] > masked[static_cast<size_t>(best)]))
        best = static_cast<int32_t>(i);
    t.id = best;
  }
  constraint->advance(t.id);
  return t;
}

}  // namespace troupe::engine::local
