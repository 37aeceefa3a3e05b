// A transformer's hyper-parameters and weights, as the local engine sees
// them, whatever file they came from (GGUF, llama2.c checkpoint, or
// random weights from `troupe mkmodel`). Loaders fill ModelWeights; the
// forward pass reads it and never knows the file format.
//
// Conventions callers may rely on:
// - Tensor shapes are listed GGUF-style, fastest-varying dimension first:
//   a matrix W with `shape = {in, out}` has `out` rows of `in` contiguous
//   elements, and y = W x computes y[r] = dot(row r, x). Every weight
//   matrix is stored that way (token_embd: {dim, vocab}: one row per token).
// - Q/K rows are in the order the architecture's RoPE expects:
//   rope_neox == false (llama): interleaved pairs (x[2i], x[2i+1]);
//   rope_neox == true (qwen2): halves (x[i], x[i + head_dim/2]).
// - `output` is empty (data == nullptr) when the output projection is
//   tied to token_embd.
// - Bias tensors (bq, bk, bv) are empty when the architecture has none.
// - The data pointers stay valid as long as `storage` is alive (an mmap of
//   the file, or owned buffers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace troupe::engine::local {

// GGUF's numbering of tensor element types.
enum class TensorType : uint32_t { f32 = 0, f16 = 1, q4_0 = 2, q8_0 = 8, bf16 = 30 };
const char* to_string(TensorType t);
// Bytes for `n` elements (n a multiple of the block size for quantised types).
size_t tensor_bytes(TensorType t, int64_t n);
// Elements per block: 1 for float types, 32 for q4_0 and q8_0.
int64_t block_size(TensorType t);

struct TensorView {
  std::string name;
  TensorType type = TensorType::f32;
  std::vector<int64_t> shape;  // fastest-varying first
  const void* data = nullptr;
  bool empty() const { return data == nullptr; }
  int64_t elements() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

enum class Arch { llama, qwen2 };
const char* to_string(Arch a);

struct ModelConfig {
  Arch arch = Arch::llama;
  int dim = 0;          // embedding width (n_embd)
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;   // grouped-query attention: n_heads % n_kv_heads == 0
  int ffn_dim = 0;      // SwiGLU hidden width
  int vocab_size = 0;
  int context_length = 0;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool rope_neox = false;  // qwen2: true
  int head_dim() const { return dim / n_heads; }
};

struct LayerWeights {
  TensorView attn_norm;              // {dim}
  TensorView wq, wk, wv, wo;         // {dim, dim}, {dim, kv_dim}, {dim, kv_dim}, {dim, dim}
  TensorView bq, bk, bv;             // qwen2: {dim}, {kv_dim}, {kv_dim}
  TensorView ffn_norm;               // {dim}
  TensorView w_gate, w_up, w_down;   // {dim, ffn}, {dim, ffn}, {ffn, dim}
};

struct ModelWeights {
  ModelConfig config;
  TensorView tok_embd;     // {dim, vocab}
  TensorView output_norm;  // {dim}
  TensorView output;       // {dim, vocab}; empty when tied to tok_embd
  std::vector<LayerWeights> layers;
  std::shared_ptr<void> storage;  // keeps the data alive
  std::string source;             // the file it came from
};

}  // namespace troupe::engine::local
