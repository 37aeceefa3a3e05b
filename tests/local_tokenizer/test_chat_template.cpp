// Chat formats rendered exactly, recognised from real Jinja templates.
#include <catch2/catch.hpp>

#include "engine/local/chat_template.hpp"
#include "local_tokenizer/fixtures.hpp"

using troupe::engine::local::ChatMessage;
using troupe::engine::local::ChatRenderOptions;
using troupe::engine::local::ChatStyle;
using troupe::engine::local::ChatTemplate;
using namespace troupe::testing;

namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "You are terse."},
    {"user", "What is 2+2?"},
    {"assistant", "4"},
    {"user", "And 3+3?"},
};

std::string render(const char* name, const std::vector<ChatMessage>& m, ChatRenderOptions o = {}) {
  auto t = ChatTemplate::named(name);
  REQUIRE(t.ok());
  auto r = t->render(m, o);
  if (!r.ok()) FAIL(r.error().describe());
  return *r;
}

}  // namespace

TEST_CASE("ChatML renders each message between im_start and im_end", "[chat]") {
  CHECK(render("chatml", kConversation) ==
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\nAnd 3+3?<|im_end|>\n"
        "<|im_start|>assistant\n");
  CHECK(render("chatml", {{"user", "Hi"}}, {.add_generation_prompt = false}) == "<|im_start|>user\nHi<|im_end|>\n");
}

TEST_CASE("Llama 3 renders headers, trimmed content and eot", "[chat]") {
  CHECK(render("llama3", kConversation) ==
        "<|begin_of_text|>"
        "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(render("llama3", {{"user", "  padded \n"}}, {.add_generation_prompt = false}) ==
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\npadded<|eot_id|>");
}

TEST_CASE("Llama 2 folds the system message into the first user turn", "[chat]") {
  CHECK(render("llama2", kConversation) ==
        "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nWhat is 2+2? [/INST] 4 </s>"
        "<s>[INST] And 3+3? [/INST]");
  CHECK(render("llama2", {{"user", "Hi"}}) == "<s>[INST] Hi [/INST]");
}

TEST_CASE("continue_final_message leaves the last assistant message open", "[chat]") {
  const std::vector<ChatMessage> m = {{"user", "Count"}, {"assistant", "1, 2, "}};
  const ChatRenderOptions cont{.add_generation_prompt = false, .continue_final_message = true};
  CHECK(render("chatml", m, cont) == "<|im_start|>user\nCount<|im_end|>\n<|im_start|>assistant\n1, 2, ");
  CHECK(render("llama3", m, cont) ==
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nCount<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n1, 2, ");
  CHECK(render("llama2", m, cont) == "<s>[INST] Count [/INST] 1, 2, ");

  auto t = ChatTemplate::named("chatml");
  REQUIRE(t.ok());
  auto not_assistant = t->render(std::vector<ChatMessage>{{"user", "x"}}, cont);
  REQUIRE_FALSE(not_assistant.ok());
  CHECK(not_assistant.error().message.find("assistant") != std::string::npos);
  auto both = t->render(m, {.add_generation_prompt = true, .continue_final_message = true});
  CHECK_FALSE(both.ok());
  CHECK_FALSE(t->render({}, {}).ok());
}

TEST_CASE("Llama 2 rejects what it cannot express", "[chat]") {
  auto t = ChatTemplate::named("llama2");
  REQUIRE(t.ok());
  CHECK_FALSE(t->render(std::vector<ChatMessage>{{"user", "a"}, {"system", "late"}}).ok());
  CHECK_FALSE(t->render(std::vector<ChatMessage>{{"tool", "a"}}).ok());
  CHECK_FALSE(t->render(std::vector<ChatMessage>{{"system", "only"}}).ok());
}

TEST_CASE("chat templates are recognised from their Jinja text", "[chat]") {
  const std::string llama3 =
      "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
      "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
      "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
  const std::string llama2 =
      "{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] %}{% endif %}"
      "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = "
      "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% endif %}"
      "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
      "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
  auto a = ChatTemplate::detect(llama3);
  REQUIRE(a.ok());
  CHECK(a->style() == ChatStyle::llama3);
  auto b = ChatTemplate::detect(llama2);
  REQUIRE(b.ok());
  CHECK(b->style() == ChatStyle::llama2);

  if (const auto* tok = qwen2_tokenizer()) {  // the real Qwen3 template, through the GGUF
    auto q = ChatTemplate::detect(tok->chat_template());
    REQUIRE(q.ok());
    CHECK(q->style() == ChatStyle::chatml);
    // The rendered prompt tokenizes with its markers as control tokens.
    auto text = q->render(kConversation);
    REQUIRE(text.ok());
    const auto ids = tok->encode(*text, false, true);
    CHECK(ids.front() == *tok->find_token("<|im_start|>"));
    CHECK(tok->decode(ids, {.render_special = true}) == *text);
  }
}

TEST_CASE("an unrecognised chat template is an error unless a name is given", "[chat]") {
  const std::string gemma = "{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}";
  auto r = ChatTemplate::detect(gemma);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("unrecognised chat template") != std::string::npos);
  CHECK(r.error().message.find("chatml, llama3, llama2") != std::string::npos);

  auto named = ChatTemplate::resolve(gemma, "chatml");
  REQUIRE(named.ok());
  CHECK(named->style() == ChatStyle::chatml);
  CHECK_FALSE(ChatTemplate::resolve("", "").ok());
  auto unknown = ChatTemplate::resolve(gemma, "vicuna");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message.find("vicuna") != std::string::npos);
}
