#include "engine/local/chat_template.hpp"

namespace troupe::engine::local {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view ltrim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim(std::string_view s) {
  s = ltrim(s);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string render_chatml(std::span<const ChatMessage> m, bool open_last, bool gen) {
  std::string out;
  for (size_t i = 0; i < m.size(); ++i) {
    out += "<|im_start|>" + m[i].role + "\n" + m[i].content;
    if (!(open_last && i + 1 == m.size())) out += "<|im_end|>\n";
  }
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

std::string render_llama3(std::span<const ChatMessage> m, bool open_last, bool gen) {
  std::string out = "<|begin_of_text|>";
  for (size_t i = 0; i < m.size(); ++i) {
    out += "<|start_header_id|>" + m[i].role + "<|end_header_id|>\n\n";
    if (open_last && i + 1 == m.size()) {
      out += ltrim(m[i].content);
    } else {
      out += trim(m[i].content);
      out += "<|eot_id|>";
    }
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

Result<std::string> render_llama2(std::span<const ChatMessage> m, bool open_last) {
  std::string out;
  std::string system;
  bool have_system = false;
  size_t start = 0;
  if (m[0].role == "system") {
    system = m[0].content;
    have_system = true;
    start = 1;
    if (m.size() == 1) return Error(ErrorCode::invalid_argument, "llama2 chat: a system message needs a user message after it");
  }
  for (size_t i = start; i < m.size(); ++i) {
    const ChatMessage& msg = m[i];
    std::string content = msg.content;
    if (i == start && have_system) content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content;
    if (msg.role == "user") {
      out += "<s>[INST] ";
      out += trim(content);
      out += " [/INST]";
    } else if (msg.role == "assistant") {
      out += ' ';
      if (open_last && i + 1 == m.size()) {
        out += ltrim(content);
      } else {
        out += trim(content);
        out += " </s>";
      }
    } else if (msg.role == "system") {
      return Error(ErrorCode::invalid_argument,
                   "llama2 chat: a system message is allowed only first (message " + std::to_string(i) + ")");
    } else {
      return Error(ErrorCode::invalid_argument, "llama2 chat: role '" + msg.role + "' of message " + std::to_string(i) +
                                                    " is not supported (system, user, assistant)");
    }
  }
  return out;
}

}  // namespace

const char* to_string(ChatStyle s) {
  switch (s) {
    case ChatStyle::chatml: return "chatml";
    case ChatStyle::llama3: return "llama3";
    case ChatStyle::llama2: return "llama2";
  }
  return "?";
}

Result<ChatTemplate> ChatTemplate::named(std::string_view name) {
  if (name == "chatml" || name == "qwen" || name == "qwen2") return ChatTemplate(ChatStyle::chatml);
  if (name == "llama3" || name == "llama-3") return ChatTemplate(ChatStyle::llama3);
  if (name == "llama2" || name == "llama-2") return ChatTemplate(ChatStyle::llama2);
  return Error(ErrorCode::invalid_argument,
               "unknown chat template name '" + std::string(name) + "' (known: chatml, llama3, llama2)");
}

Result<ChatTemplate> ChatTemplate::detect(std::string_view jinja) {
  const auto has = [&](std::string_view s) { return jinja.find(s) != std::string_view::npos; };
  if (has("<|im_start|>")) return ChatTemplate(ChatStyle::chatml);
  if (has("<|start_header_id|>") && has("<|eot_id|>")) return ChatTemplate(ChatStyle::llama3);
  if (has("[INST]") && has("<<SYS>>")) return ChatTemplate(ChatStyle::llama2);
  std::string head(jinja.substr(0, 80));
  for (char& c : head) {
    if (c == '\n') c = ' ';
  }
  return Error(ErrorCode::unsupported,
               "unrecognised chat template (not ChatML, Llama 3 or Llama 2; name one explicitly: chatml, llama3, "
               "llama2): \"" + head + (jinja.size() > 80 ? "...\"" : "\""));
}

Result<ChatTemplate> ChatTemplate::resolve(std::string_view jinja, std::string_view name) {
  if (!name.empty()) return named(name);
  if (jinja.empty()) {
    return Error(ErrorCode::not_found,
                 "the model has no tokenizer.chat_template; name one explicitly (chatml, llama3, llama2)");
  }
  return detect(jinja);
}

Result<std::string> ChatTemplate::render(std::span<const ChatMessage> messages, ChatRenderOptions options) const {
  if (messages.empty()) return Error(ErrorCode::invalid_argument, "chat: no messages");
  const bool open_last = options.continue_final_message;
  if (open_last) {
    if (options.add_generation_prompt) {
      return Error(ErrorCode::invalid_argument,
                   "chat: continue_final_message and add_generation_prompt exclude each other");
    }
    if (messages.back().role != "assistant") {
      return Error(ErrorCode::invalid_argument, "chat: continue_final_message needs the last message to be the "
                                                "assistant's, got '" + messages.back().role + "'");
    }
  }
  switch (style_) {
    case ChatStyle::chatml: return render_chatml(messages, open_last, options.add_generation_prompt);
    case ChatStyle::llama3: return render_llama3(messages, open_last, options.add_generation_prompt);
    case ChatStyle::llama2: return render_llama2(messages, open_last);
  }
  return Error(ErrorCode::internal, "chat: unknown style");
}

}  // namespace troupe::engine::local
