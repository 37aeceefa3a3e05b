// Random-weight models of any shape (`troupe mkmodel`), for tests and
// benchmarks, with a tokenizer and chat template so they run end to end.
//
// What callers may rely on:
// - Deterministic: the same options (seed included) give the same bytes,
//   on any platform (own generator, not std::normal_distribution); each
//   tensor's values depend only on the seed and the tensor's name.
// - Weights ~ N(0, stddev) (default 0.02), biases likewise, norms = 1.
//   2-D weights are stored as `type` (quantised types fall back to F16 for
//   rows that are not a multiple of 32, as in convert); 1-D tensors F32.
// - Output: separate output.weight unless tied (default: llama separate,
//   qwen2 tied, like the small Qwen2 models). qwen2 gets q/k/v biases.
// - Tokenizer: SentencePiece-style (`tokenizer.ggml.model = llama`):
//   0 <unk>, 1 <s> (BOS), 2 </s> (EOS), 3..258 byte tokens <0x00>..<0xFF>,
//   259 <|im_start|> and 260 <|im_end|> (control; eot), then synthetic
//   pieces ("▁", letters, "▁"+letters, pairs, triples, ...) with decreasing
//   scores, each reachable by merging two shorter pieces. vocab >= 261.
// - `tokenizer.chat_template` is ChatML (kChatmlTemplate), or absent with
//   chat_template = false (to test what a model without one does).
// - Memory: one tensor at a time is generated while the file is written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "engine/local/llama2c.hpp"
#include "engine/local/model.hpp"

namespace troupe::engine::local {

extern const char* const kChatmlTemplate;

struct RandomModelOptions {
  Arch arch = Arch::llama;
  int dim = 64;
  int n_layers = 2;
  int n_heads = 4;
  int n_kv_heads = 4;
  int ffn_dim = 128;
  int vocab_size = 512;
  int context_length = 2048;
  TensorType type = TensorType::f32;
  uint64_t seed = 0;
  std::optional<bool> tied;  // default: llama false, qwen2 true
  float stddev = 0.02f;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool chat_template = true;  // false: no tokenizer.chat_template key
};

// Errors name the bad option ("--heads 5 does not divide --dim 64").
Status validate(const RandomModelOptions& options);
Status write_random_model(const RandomModelOptions& options, const std::string& path);
// The synthetic vocabulary described above (vocab_size >= 261).
SpmVocab synthetic_vocab(int vocab_size);

}  // namespace troupe::engine::local
