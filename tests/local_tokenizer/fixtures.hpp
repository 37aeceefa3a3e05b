// Tokenizers for the tests, each loaded once per test binary: the shared
// vocabulary GGUFs (Llama-2 SPM, GPT-2), a Qwen2 GGUF written from
// qwen3-tokenizer.json, and llama2.c's tok512.bin. Each returns nullptr
// (and the test should WARN and return) when ../shared is absent.
#pragma once

#include <string>
#include <vector>

#include "engine/local/tokenizer.hpp"

namespace troupe::testing {

std::string shared_path(const std::string& relative);  // TROUPE_SHARED_DIR/relative
bool shared_exists(const std::string& relative);

const engine::local::Tokenizer* llama_spm_tokenizer();
const engine::local::Tokenizer* gpt2_tokenizer();
const engine::local::Tokenizer* qwen2_tokenizer();
const engine::local::Tokenizer* llama2c_tokenizer();

// The cases of a `.inp`/`.out` pair: strings and expected ids.
struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};
std::vector<VocabCase> read_vocab_cases(const std::string& inp_path, const std::string& out_path);

}  // namespace troupe::testing
