#include "memory/sharegpt.hpp"

#include "common/json_writer.hpp"

namespace troupe::memory {
namespace {

void append_paragraph(std::string& to, const std::string& text) {
  if (!to.empty() && !text.empty()) to += "\n\n";
  to += text;
}

void write_conversation(JsonWriter& w, const ShareGptConversation& conv) {
  w.key("conversations").begin_array();
  for (const auto& t : conv.turns) w.begin_object().field("from", t.from).field("value", t.value).end_object();
  w.end_array();
  w.field("system", conv.system);
}

}  // namespace

ShareGptConversation to_sharegpt(const std::vector<Message>& messages) {
  ShareGptConversation conv;
  bool seen_human = false;
  for (const auto& m : messages) {
    if (m.role == "system") {
      append_paragraph(conv.system, m.content);
      continue;
    }
    const bool human = m.role != "assistant";
    seen_human = seen_human || human;
    const char* from = (human || !seen_human) ? "human" : "gpt";
    if (!conv.turns.empty() && conv.turns.back().from == from) {
      append_paragraph(conv.turns.back().value, m.content);
    } else {
      conv.turns.push_back({from, m.content});
    }
  }
  return conv;
}

std::optional<std::string> sharegpt_sft_row(const std::vector<Message>& conversation) {
  bool has_user = false;
  for (const auto& m : conversation) has_user = has_user || (m.role != "system" && m.role != "assistant");
  ShareGptConversation conv = to_sharegpt(conversation);
  if (!has_user || conv.turns.size() < 2 || conv.turns.back().from != "gpt") return std::nullopt;
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  write_conversation(w, conv);
  w.end_object();
  return out;
}

std::optional<std::string> sharegpt_dpo_row(const std::vector<Message>& prompt, const std::string& chosen,
                                            const std::string& rejected) {
  std::vector<Message> head = prompt;
  std::string prefix;
  while (!head.empty() && head.back().role == "assistant") {
    std::string part = head.back().content;
    append_paragraph(part, prefix);
    prefix = std::move(part);
    head.pop_back();
  }
  ShareGptConversation conv = to_sharegpt(head);
  if (conv.turns.empty() || conv.turns.back().from != "human") return std::nullopt;
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  write_conversation(w, conv);
  w.key("chosen").begin_object().field("from", "gpt").field("value", prefix + chosen).end_object();
  w.key("rejected").begin_object().field("from", "gpt").field("value", prefix + rejected).end_object();
  w.end_object();
  return out;
}

}  // namespace troupe::memory
