// Loading model weights into ModelWeights (model.hpp) from a file.
//
// What callers may rely on:
// - load_model(path) reads GGUF when the file starts with the GGUF magic,
//   else a llama2.c checkpoint; any other file is an Error (never a crash).
// - load_gguf_model accepts the `llama` and `qwen2` architectures
//   (`general.architecture`); the hyper-parameters come from the keys
//   llama.cpp uses (`<arch>.embedding_length`, `.block_count`,
//   `.feed_forward_length`, `.context_length`, `.attention.head_count`,
//   `.attention.head_count_kv` (default: head_count),
//   `.attention.layer_norm_rms_epsilon`, `.rope.freq_base` (default 10000),
//   `.rope.dimension_count` (must equal head_dim when present)); the
//   vocabulary size is token_embd's second dimension. qwen2 sets
//   rope_neox = true and requires q/k/v biases; llama reads them if present.
//   Missing output.weight means tied output (ModelWeights::output empty).
// - Every tensor's shape is checked against the hyper-parameters; a
//   mismatch names the tensor, what it has and what it needs. Unknown
//   architectures, missing keys and missing tensors are Errors naming them.
// - Weight matrices keep the file's type (F32, F16, BF16, Q8_0, Q4_0) and
//   point into the file mapping. 1-D tensors (norms, biases) are always F32:
//   when the file stores them otherwise they are converted into buffers
//   owned by ModelWeights::storage.
// - load_llama2c reads the legacy llama2.c layout (README in
//   ../shared/models): 7 int32 header fields (negative vocab = separate
//   classifier), then float32 weights. Tensors point into the mapping, F32,
//   Meta/"normal" RoPE order (rope_neox = false, no permutation), eps 1e-5,
//   theta 10000. The file size must match the header exactly.
#pragma once

#include <string>

#include "common/error.hpp"
#include "engine/local/gguf.hpp"
#include "engine/local/model.hpp"

namespace troupe::engine::local {

Result<ModelWeights> load_model(const std::string& path);
Result<ModelWeights> load_gguf_model(const GgufFile& file);
Result<ModelWeights> load_llama2c(const std::string& path);

// "llama" / "qwen2" -> Arch; anything else is an unsupported-architecture
// Error naming it.
Result<Arch> parse_arch(const std::string& name);

}  // namespace troupe::engine::local
