// Chat prompts: a list of {role, content} messages rendered into the text a
// model was trained on, for the three chat formats the local engine knows —
// ChatML (Qwen), Llama 3 and Llama 2. The Jinja text in a GGUF's
// `tokenizer.chat_template` is not interpreted: its format is recognised by
// distinctive markers, and rendering is native code.
//
// What callers may rely on:
// - The rendered text is the whole prompt, including the BOS text where the
//   format starts with one ("<|begin_of_text|>", "<s>"), as Hugging Face's
//   apply_chat_template writes it. Tokenize it with add_bos = false and
//   parse_special = true.
// - Formats:
//   chatml: "<|im_start|>{role}\n{content}<|im_end|>\n" per message;
//           generation prompt "<|im_start|>assistant\n".
//   llama3: "<|begin_of_text|>", then per message
//           "<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>";
//           generation prompt "<|start_header_id|>assistant<|end_header_id|>\n\n".
//   llama2: a leading system message goes into the first user turn as
//           "<<SYS>>\n{system}\n<</SYS>>\n\n"; user turns are
//           "<s>[INST] {content, trimmed} [/INST]", assistant turns
//           " {content, trimmed} </s>"; no generation prompt is needed.
// - continue_final_message: the last message must be the assistant's; it
//   is left open — its header is written, then its content exactly as given
//   (leading whitespace trimmed where the format trims, the end untouched),
//   and no end marker — so the model continues it. It excludes
//   add_generation_prompt.
// - Errors (never exceptions): an unrecognised template without an explicit
//   name; an unknown name; an empty message list; a system message after
//   the first in llama2; a role llama2 cannot express; continue_final_message
//   whose last message is not an assistant's.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace troupe::engine::local {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (chatml/llama3 accept any role)
  std::string content;
};

enum class ChatStyle { chatml, llama3, llama2 };
const char* to_string(ChatStyle s);

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  bool continue_final_message = false;
};

class ChatTemplate {
 public:
  // "chatml", "llama3", "llama2" (also "qwen", "llama-3", "llama-2").
  static Result<ChatTemplate> named(std::string_view name);
  // Recognises a Jinja chat template: "<|im_start|>" -> chatml;
  // "<|start_header_id|>" and "<|eot_id|>" -> llama3; "[INST]" and "<<SYS>>"
  // -> llama2. Anything else is an Error.
  static Result<ChatTemplate> detect(std::string_view jinja);
  // What a workflow gets for a model: the explicit `name` when not empty,
  // otherwise detect(jinja); an empty template with no name is an Error.
  static Result<ChatTemplate> resolve(std::string_view jinja, std::string_view name);

  ChatStyle style() const { return style_; }
  Result<std::string> render(std::span<const ChatMessage> messages, ChatRenderOptions options = {}) const;

 private:
  explicit ChatTemplate(ChatStyle s) : style_(s) {}
  ChatStyle style_;
};

}  // namespace troupe::engine::local
