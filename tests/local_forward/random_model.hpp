// Random-weight models built in memory (owned buffers, no file), for the
// forward-pass tests and bench/bench_forward: any llama/qwen2 shape, weight
// matrices in any kernel-supported type (norms and biases stay f32, as in
// GGUF files). Deterministic for a given spec (seed).
#pragma once

#include "common/hash.hpp"
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/local/quant.hpp"
#include "engine/local/model.hpp"

namespace troupe::testing {

struct RandomModelSpec {
  engine::local::Arch arch = engine::local::Arch::llama;
  int dim = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 96, vocab = 128, context = 256;
  engine::local::TensorType type = engine::local::TensorType::f32;
  bool tied = false;
  uint64_t seed = 1;
};

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(hash::splitmix64(seed)) {}
  uint64_t next() { return hash::splitmix64_next(s_); }
  float uniform(float a) { return (static_cast<float>(next() >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f) * a; }

 private:
  uint64_t s_;
};

// n floats uniform in [-a, a].
inline std::vector<float> random_vec(Rng& rng, size_t n, float a = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(a);
  return v;
}

// Equal sizes and equal bits (NaN payloads and signed zeros included).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The first 64-byte aligned byte of `v` (size it 63 bytes larger than needed).
inline uint8_t* align64(std::vector<uint8_t>& v) {
  return v.data() + (64 - reinterpret_cast<uintptr_t>(v.data()) % 64) % 64;
}

// `rows` value rows of `n` floats uniform in [-a, a], the same values
// rounded to f16 and to bf16, and a pointer to each row of each: the
// inputs of the value-sum (axpy_rows) tests.
struct ValueRows {
  std::vector<float> f32;
  std::vector<uint16_t> f16, bf16;
  std::vector<const void*> p32, p16, pbf16;
};
inline ValueRows value_rows(Rng& rng, int64_t rows, int64_t n, float a = 2.0f) {
  ValueRows v;
  v.f32 = random_vec(rng, static_cast<size_t>(rows * n), a);
  for (float x : v.f32) {
    v.f16.push_back(engine::local::f32_to_f16(x));
    v.bf16.push_back(engine::local::f32_to_bf16(x));
  }
  for (int64_t t = 0; t < rows; ++t) {
    v.p32.push_back(v.f32.data() + t * n);
    v.p16.push_back(v.f16.data() + t * n);
    v.pbf16.push_back(v.bf16.data() + t * n);
  }
  return v;
}

// Encodes `src` (rows of `in` floats) as `type`; returns the bytes.
inline std::vector<uint8_t> encode_rows(const std::vector<float>& src, int64_t in, engine::local::TensorType type) {
  using namespace engine::local;
  const int64_t rows = static_cast<int64_t>(src.size()) / in;
  const size_t rb = tensor_bytes(type, in);
  std::vector<uint8_t> out(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = src.data() + r * in;
    uint8_t* dst = out.data() + r * rb;
    quantize_row(type, x, dst, in);
  }
  return out;
}

inline engine::local::ModelWeights make_random_model(const RandomModelSpec& s) {
  using namespace engine::local;
  ModelWeights w;
  ModelConfig& c = w.config;
  c.arch = s.arch;
  c.dim = s.dim;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.n_kv_heads = s.kv_heads;
  c.ffn_dim = s.ffn;
  c.vocab_size = s.vocab;
  c.context_length = s.context;
  c.rope_neox = s.arch == Arch::qwen2;
  c.rope_theta = s.arch == Arch::qwen2 ? 1000000.0f : 10000.0f;
  c.rms_eps = s.arch == Arch::qwen2 ? 1e-6f : 1e-5f;
  auto store = std::make_shared<std::vector<std::vector<uint8_t>>>();
  store->reserve(static_cast<size_t>(s.layers) * 16 + 8);
  Rng rng(s.seed);
  auto tensor = [&](const std::string& name, std::vector<int64_t> shape, TensorType type, float scale, float offset) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = offset + rng.uniform(scale);
    store->push_back(encode_rows(v, shape[0], type));
    return TensorView{name, type, std::move(shape), store->back().data()};
  };
  const int64_t dim = s.dim, kv = static_cast<int64_t>(s.kv_heads) * (s.dim / s.heads), ffn = s.ffn, V = s.vocab;
  const float a_dim = 1.0f / std::sqrt(static_cast<float>(dim)), a_ffn = 1.0f / std::sqrt(static_cast<float>(ffn));
  w.tok_embd = tensor("token_embd.weight", {dim, V}, s.type, 1.0f, 0.0f);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = tensor(p + "attn_norm.weight", {dim}, TensorType::f32, 0.1f, 1.0f);
    L.wq = tensor(p + "attn_q.weight", {dim, dim}, s.type, 2.0f * a_dim, 0.0f);
    L.wk = tensor(p + "attn_k.weight", {dim, kv}, s.type, 2.0f * a_dim, 0.0f);
    L.wv = tensor(p + "attn_v.weight", {dim, kv}, s.type, a_dim, 0.0f);
    L.wo = tensor(p + "attn_output.weight", {dim, dim}, s.type, a_dim, 0.0f);
    if (s.arch == Arch::qwen2) {
      L.bq = tensor(p + "attn_q.bias", {dim}, TensorType::f32, 0.2f, 0.0f);
      L.bk = tensor(p + "attn_k.bias", {kv}, TensorType::f32, 0.2f, 0.0f);
      L.bv = tensor(p + "attn_v.bias", {kv}, TensorType::f32, 0.2f, 0.0f);
    }
    L.ffn_norm = tensor(p + "ffn_norm.weight", {dim}, TensorType::f32, 0.1f, 1.0f);
    L.w_gate = tensor(p + "ffn_gate.weight", {dim, ffn}, s.type, a_dim, 0.0f);
    L.w_up = tensor(p + "ffn_up.weight", {dim, ffn}, s.type, a_dim, 0.0f);
    L.w_down = tensor(p + "ffn_down.weight", {ffn, dim}, s.type, a_ffn, 0.0f);
    w.layers.push_back(std::move(L));
  }
  w.output_norm = tensor("output_norm.weight", {dim}, TensorType::f32, 0.1f, 1.0f);
  if (!s.tied) w.output = tensor("output.weight", {dim, V}, s.type, a_dim, 0.0f);
  w.storage = store;
  w.source = "random";
  return w;
}

}  // namespace troupe::testing
