// LLaMA-Factory's sharegpt layout of chat messages (shared/docs/formats.md
// §3), used by the llamafactory export.
//
// to_sharegpt() applies these rules, in this order; callers may rely on them:
// 1. system messages (wherever they are) leave the turn list and are joined,
//    with a blank line between them, into the top-level `system` string;
// 2. "assistant" becomes "gpt"; every other role ("user", "tool", ...)
//    becomes "human" (LLaMA-Factory's observation turns would need their own
//    positions; troupe's pipelines do not produce tool turns);
// 3. a conversation must start with human: assistant messages before the
//    first user message are kept as human text (merged into it by rule 4),
//    not dropped;
// 4. consecutive turns of the same speaker merge into one, joined by a
//    blank line ("\n\n"; no separator next to an empty part),
// so human turns sit at odd positions (1st, 3rd, ...) and gpt at even.
//
// Rows (one JSON object, no newline):
// - sft: {"conversations":[...],"system":"..."}; the conversation must end
//   with gpt and hold at least one human turn, else nullopt (skipped).
// - dpo: {"conversations":[...],"system":"...","chosen":{"from":"gpt",
//   "value":..},"rejected":{...}}; the conversation ends with human.
//   Trailing assistant messages of the prompt (an unfinished answer being
//   continued) are removed from it and prefixed directly to chosen and
//   rejected. nullopt when no human turn is left.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "memory/store.hpp"

namespace troupe::memory {

struct ShareGptTurn {
  std::string from;  // "human" or "gpt"
  std::string value;
};

struct ShareGptConversation {
  std::string system;
  std::vector<ShareGptTurn> turns;
};

ShareGptConversation to_sharegpt(const std::vector<Message>& messages);

// `conversation` = prompt plus the assistant's completion.
std::optional<std::string> sharegpt_sft_row(const std::vector<Message>& conversation);
std::optional<std::string> sharegpt_dpo_row(const std::vector<Message>& prompt, const std::string& chosen,
                                            const std::string& rejected);

}  // namespace troupe::memory
