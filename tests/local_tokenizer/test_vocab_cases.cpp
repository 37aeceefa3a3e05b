// The shared tokenizer cases (from llama.cpp's tests, ids produced by the
// Hugging Face tokenizers) through each vocabulary.
#include <catch2/catch.hpp>

#include "local_tokenizer/fixtures.hpp"

using troupe::engine::local::Tokenizer;
using namespace troupe::testing;

namespace {

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

void check_cases(const Tokenizer& tok, const std::string& name) {
  const auto cases = read_vocab_cases(shared_path("data/tokenizers/" + name + ".inp"),
                                      shared_path("data/tokenizers/" + name + ".out"));
  REQUIRE(cases.size() == 46);
  int passed = 0;
  for (const auto& c : cases) {
    const auto ids = tok.encode(c.text, /*add_bos=*/false, /*parse_special=*/false);
    INFO(name << " text: [" << c.text << "]\n got:     " << show(ids) << "\n expected:" << show(c.ids));
    CHECK(ids == c.ids);
    if (ids == c.ids) ++passed;
  }
  WARN(name << ": " << passed << "/" << cases.size() << " cases pass");
}

}  // namespace

TEST_CASE("Llama-2 SPM vocabulary GGUF encodes every shared case as Hugging Face does", "[vocab]") {
  const Tokenizer* tok = llama_spm_tokenizer();
  if (!tok) {
    WARN("skipped: " << shared_path("data/tokenizers") << " is absent");
    return;
  }
  CHECK(tok->kind() == Tokenizer::Kind::spm);
  CHECK(tok->vocab_size() == 32000);
  CHECK(tok->bos() == 1);
  CHECK(tok->eos() == 2);
  CHECK(tok->add_bos());
  check_cases(*tok, "ggml-vocab-llama-spm.gguf");
}

TEST_CASE("GPT-2 BPE vocabulary GGUF encodes every shared case as Hugging Face does", "[vocab]") {
  const Tokenizer* tok = gpt2_tokenizer();
  if (!tok) {
    WARN("skipped: " << shared_path("data/tokenizers") << " is absent");
    return;
  }
  CHECK(tok->kind() == Tokenizer::Kind::bpe);
  CHECK(tok->vocab_size() == 50257);
  CHECK(tok->eos() == 50256);
  check_cases(*tok, "ggml-vocab-gpt-2.gguf");
}

TEST_CASE("Qwen2 GGUF written from tokenizer.json encodes every shared case as Hugging Face does", "[vocab]") {
  const Tokenizer* tok = qwen2_tokenizer();
  if (!tok) {
    WARN("skipped: " << shared_path("data/tokenizers") << " is absent");
    return;
  }
  CHECK(tok->kind() == Tokenizer::Kind::bpe);
  CHECK(tok->pre_tokenizer() == troupe::engine::local::PreTokenizer::qwen2);
  CHECK(tok->vocab_size() == 151669);
  CHECK(tok->token_text(tok->eos()) == "<|im_end|>");
  CHECK(tok->token_text(tok->pad()) == "<|endoftext|>");
  CHECK(tok->bos() == -1);
  CHECK_FALSE(tok->add_bos());
  CHECK(tok->chat_template().find("<|im_start|>") != std::string::npos);
  check_cases(*tok, "ggml-vocab-qwen2.gguf");
}
