// ModelWeights -> GGUF with llama.cpp's key and tensor names.
#include "engine/local/model_convert.hpp"

#include <cstring>
#include <vector>

#include "engine/local/model_loader.hpp"
#include "engine/local/quant.hpp"

namespace troupe::engine::local {

uint32_t gguf_file_type(TensorType type) {
  switch (type) {
    case TensorType::f32: return 0;   // LLAMA_FTYPE_ALL_F32
    case TensorType::f16: return 1;   // MOSTLY_F16
    case TensorType::q4_0: return 2;  // MOSTLY_Q4_0
    case TensorType::q8_0: return 7;  // MOSTLY_Q8_0
    case TensorType::bf16: return 32; // MOSTLY_BF16
  }
  return 0;
}

void add_model_hparams(GgufWriter& out, const ModelConfig& c, const GgufModelOptions& o) {
  const std::string a = to_string(o.arch);
  out.set_string("general.architecture", a);
  out.set_string("general.name", o.name);
  out.set_u32("general.file_type", gguf_file_type(o.type));
  if (block_size(o.type) > 1) out.set_u32("general.quantization_version", 2);
  out.set_u32(a + ".context_length", static_cast<uint32_t>(c.context_length));
  out.set_u32(a + ".embedding_length", static_cast<uint32_t>(c.dim));
  out.set_u32(a + ".block_count", static_cast<uint32_t>(c.n_layers));
  out.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(c.ffn_dim));
  out.set_u32(a + ".attention.head_count", static_cast<uint32_t>(c.n_heads));
  out.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  out.set_f32(a + ".attention.layer_norm_rms_epsilon", c.rms_eps);
  out.set_f32(a + ".rope.freq_base", c.rope_theta);
  out.set_u32(a + ".rope.dimension_count", static_cast<uint32_t>(c.head_dim()));
  out.set_u32(a + ".vocab_size", static_cast<uint32_t>(c.vocab_size));
}

void add_spm_vocab(GgufWriter& out, const SpmVocab& v) {
  out.set_string("tokenizer.ggml.model", "llama");
  out.set_string_array("tokenizer.ggml.tokens", v.tokens);
  out.set_f32_array("tokenizer.ggml.scores", v.scores);
  out.set_i32_array("tokenizer.ggml.token_type", v.types);
  out.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  out.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  out.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk_id));
  out.set_bool("tokenizer.ggml.add_bos_token", true);
  out.set_bool("tokenizer.ggml.add_eos_token", false);
}

namespace {

void permute_heads(float* data, int64_t n_rows, int64_t row_len, int64_t head_dim, bool to_neox) {
  std::vector<float> head(static_cast<size_t>(head_dim * row_len));
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h + head_dim <= n_rows; h += head_dim) {
    float* base = data + h * row_len;
    std::memcpy(head.data(), base, head.size() * sizeof(float));
    for (int64_t i = 0; i < half; ++i) {
      // NEOX row i <-> interleaved row 2i; NEOX row half+i <-> interleaved row 2i+1.
      const int64_t neox_a = i, neox_b = half + i, inter_a = 2 * i, inter_b = 2 * i + 1;
      const int64_t dst_a = to_neox ? neox_a : inter_a, src_a = to_neox ? inter_a : neox_a;
      const int64_t dst_b = to_neox ? neox_b : inter_b, src_b = to_neox ? inter_b : neox_b;
      std::memcpy(base + dst_a * row_len, head.data() + src_a * row_len, static_cast<size_t>(row_len) * sizeof(float));
      std::memcpy(base + dst_b * row_len, head.data() + src_b * row_len, static_cast<size_t>(row_len) * sizeof(float));
    }
  }
}

enum class Rope { keep, to_neox, from_neox };

// Adds `src` as `name`: dequantised, permuted if asked, re-encoded as `type`
// (1-D: F32) when the writer writes.
Status add_converted(GgufWriter& out, const std::string& name, const TensorView& src, TensorType type, Rope rope,
                     int64_t head_dim) {
  const bool one_d = src.shape.size() == 1;
  TensorType dst = one_d ? TensorType::f32 : type;
  if (block_size(dst) > 1 && src.shape[0] % block_size(dst) != 0) dst = TensorType::f16;
  const TensorView s = src;  // the view (not the data) is copied into the closures
  if (dst == src.type && rope == Rope::keep)
    return out.add_tensor_lazy(name, dst, src.shape, [s](uint8_t* bytes) {
      std::memcpy(bytes, s.data, tensor_bytes(s.type, s.elements()));
    });
  return out.add_tensor_lazy(name, dst, src.shape, [s, dst, rope, head_dim](uint8_t* bytes) {
    const int64_t n = s.elements();
    const int64_t row_len = s.shape.size() == 1 ? 1 : s.shape[0];
    std::vector<float> f(static_cast<size_t>(n));
    dequantize_row(s.type, s.data, f.data(), n);
    if (rope != Rope::keep) permute_heads(f.data(), n / row_len, row_len, head_dim, rope == Rope::to_neox);
    const int64_t rows = n / row_len;
    for (int64_t r = 0; r < rows; ++r)
      quantize_row(dst, f.data() + r * row_len, bytes + tensor_bytes(dst, r * row_len), row_len);
  });
}

}  // namespace

void permute_rows_to_neox(float* data, int64_t n_rows, int64_t row_len, int64_t head_dim) {
  permute_heads(data, n_rows, row_len, head_dim, true);
}
void permute_rows_from_neox(float* data, int64_t n_rows, int64_t row_len, int64_t head_dim) {
  permute_heads(data, n_rows, row_len, head_dim, false);
}

Status add_model_tensors(GgufWriter& out, const ModelWeights& w, const GgufModelOptions& o) {
  const ModelConfig& c = w.config;
  const bool target_neox = o.arch == Arch::qwen2;
  const Rope rope = c.rope_neox == target_neox ? Rope::keep : (target_neox ? Rope::to_neox : Rope::from_neox);
  const int64_t hd = c.head_dim();
  const auto T = o.type;
  TROUPE_TRY(add_converted(out, "token_embd.weight", w.tok_embd, T, Rope::keep, hd));
  TROUPE_TRY(add_converted(out, "output_norm.weight", w.output_norm, T, Rope::keep, hd));
  if (!w.output.empty()) TROUPE_TRY(add_converted(out, "output.weight", w.output, T, Rope::keep, hd));
  const int64_t kv = static_cast<int64_t>(c.n_kv_heads) * hd;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "blk." + std::to_string(i) + ".";
    TROUPE_TRY(add_converted(out, p + "attn_norm.weight", l.attn_norm, T, Rope::keep, hd));
    TROUPE_TRY(add_converted(out, p + "attn_q.weight", l.wq, T, rope, hd));
    TROUPE_TRY(add_converted(out, p + "attn_k.weight", l.wk, T, rope, hd));
    TROUPE_TRY(add_converted(out, p + "attn_v.weight", l.wv, T, Rope::keep, hd));
    TROUPE_TRY(add_converted(out, p + "attn_output.weight", l.wo, T, Rope::keep, hd));
    if (!l.bq.empty() || !l.bk.empty() || !l.bv.empty() || target_neox) {
      const std::vector<float> zq(static_cast<size_t>(c.dim), 0.0f), zkv(static_cast<size_t>(kv), 0.0f);
      auto bias = [&](const std::string& name, const TensorView& b, int64_t n, Rope r) -> Status {
        if (!b.empty()) return add_converted(out, name, b, TensorType::f32, r, hd);
        return out.add_tensor_f32(name, TensorType::f32, {n}, n == c.dim ? zq : zkv);
      };
      TROUPE_TRY(bias(p + "attn_q.bias", l.bq, c.dim, rope));
      TROUPE_TRY(bias(p + "attn_k.bias", l.bk, kv, rope));
      TROUPE_TRY(bias(p + "attn_v.bias", l.bv, kv, Rope::keep));
    }
    TROUPE_TRY(add_converted(out, p + "ffn_norm.weight", l.ffn_norm, T, Rope::keep, hd));
    TROUPE_TRY(add_converted(out, p + "ffn_gate.weight", l.w_gate, T, Rope::keep, hd));
    TROUPE_TRY(add_converted(out, p + "ffn_up.weight", l.w_up, T, Rope::keep, hd));
    TROUPE_TRY(add_converted(out, p + "ffn_down.weight", l.w_down, T, Rope::keep, hd));
  }
  return {};
}

Status convert_llama2c(const std::string& model_path, const std::string& tokenizer_path, const std::string& out_path,
                       const GgufModelOptions& options) {
  auto model = load_llama2c(model_path);
  if (!model) return model.error();
  auto vocab = read_llama2c_tokenizer(tokenizer_path, model->config.vocab_size);
  if (!vocab) return vocab.error();
  GgufWriter out;
  add_model_hparams(out, model->config, options);
  add_spm_vocab(out, *vocab);
  if (auto st = add_model_tensors(out, *model, options); !st) return st;
  return out.write(out_path);
}

}  // namespace troupe::engine::local
