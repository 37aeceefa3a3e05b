// Writing a model into GGUF the way llama.cpp's converters name things, so
// files move between troupe and other GGUF tools; and `troupe convert
// llama2c`.
//
// What callers may rely on:
// - add_model_hparams writes `general.architecture` and the `<arch>.*`
//   hyper-parameter keys load_gguf_model reads (plus `.rope.dimension_count`
//   and `.vocab_size`, as llama.cpp's converters do).
// - add_model_tensors writes token_embd.weight, output_norm.weight,
//   output.weight (omitted when tied), blk.N.{attn_norm, attn_q, attn_k,
//   attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}.weight and,
//   for qwen2 (or a source with biases), blk.N.attn_{q,k,v}.bias. 2-D
//   weights are stored as `options.type`; quantised types fall back to F16
//   for a tensor whose rows are not a multiple of 32 values (llama.cpp does
//   the same). 1-D tensors are always F32. F32 -> F32 copies bits exactly.
// - RoPE order: when the source's rope_neox differs from the target
//   architecture's (llama: interleaved pairs; qwen2: NEOX halves), the rows
//   of attn_q/attn_k (and their biases) are permuted within each head:
//   NEOX row i = interleaved row 2i, NEOX row i + head_dim/2 = interleaved
//   row 2i + 1. A qwen2 target without source biases gets zero biases.
// - Tensor bytes are produced when the writer writes, so the source
//   ModelWeights (and its storage) must outlive GgufWriter::write.
// - convert_llama2c: llama2.c checkpoint + tokenizer -> GGUF. For the
//   llama arch no permutation is applied: llama2.c stores Meta-order
//   (interleaved) Q/K rows, which is what llama.cpp's `llama` arch expects
//   and what llama.cpp's own convert-llama2c-to-ggml writes unchanged.
#pragma once

#include <string>

#include "common/error.hpp"
#include "engine/local/gguf.hpp"
#include "engine/local/llama2c.hpp"
#include "engine/local/model.hpp"

namespace troupe::engine::local {

struct GgufModelOptions {
  Arch arch = Arch::llama;              // target architecture
  TensorType type = TensorType::f32;    // 2-D weights
  std::string name = "troupe";          // general.name
};

// llama.cpp's general.file_type for files whose 2-D weights are `type`.
uint32_t gguf_file_type(TensorType type);

void add_model_hparams(GgufWriter& out, const ModelConfig& config, const GgufModelOptions& options);
Status add_model_tensors(GgufWriter& out, const ModelWeights& weights, const GgufModelOptions& options);
// tokenizer.ggml.model = "llama", tokens, scores, token_type, bos/eos/unk
// ids, add_bos_token = true, add_eos_token = false.
void add_spm_vocab(GgufWriter& out, const SpmVocab& vocab);

// In place, for a matrix of `n_rows` rows of `row_len` floats whose rows
// form heads of `head_dim` rows (a bias is row_len = 1).
void permute_rows_to_neox(float* data, int64_t n_rows, int64_t row_len, int64_t head_dim);
void permute_rows_from_neox(float* data, int64_t n_rows, int64_t row_len, int64_t head_dim);

Status convert_llama2c(const std::string& model_path, const std::string& tokenizer_path,
                       const std::string& out_path, const GgufModelOptions& options);

}  // namespace troupe::engine::local
