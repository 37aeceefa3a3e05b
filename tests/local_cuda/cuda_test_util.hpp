// Helpers of the CUDA backend tests: skipping without a GPU, device buffers
// filled from host vectors, deterministic random data, weight matrices of
// every type wrapped so upload_weights() takes them, and small random
// models. Only engine/local headers and the standard library (the tests
// build in the engine-only build, without the test-support library).
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/local/cuda/kernels_cuda.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/model.hpp"
#include "engine/local/quant.hpp"

namespace troupe::cuda_test {

using namespace troupe::engine::local;

// Skips the rest of a test case on a machine without a usable GPU.
#define TROUPE_REQUIRE_CUDA_DEVICE()                                        \
  do {                                                                      \
    if (::troupe::engine::local::cuda_device_count() == 0) {                \
      WARN("no CUDA device: " << ::troupe::engine::local::describe_cuda_devices()); \
      return;                                                               \
    }                                                                       \
  } while (0)

inline std::unique_ptr<Kernels> make_gpu() {
  auto k = make_cuda_kernels();
  if (!k.ok()) FAIL("make_cuda_kernels: " << k.error().describe());
  return std::move(k.value());
}

// splitmix64: the same numbers on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform(float a) { return (static_cast<float>(next() >> 40) / 16777216.0f * 2.0f - 1.0f) * a; }
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }

 private:
  uint64_t s_;
};

inline std::vector<float> random_floats(size_t n, uint64_t seed, float a = 1.0f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(a);
  return v;
}

// Device memory holding a copy of `host`.
inline std::shared_ptr<float[]> to_device(Kernels& k, const std::vector<float>& host) {
  auto d = k.alloc(host.size());
  REQUIRE(d);
  k.from_host(host.data(), d.get(), host.size());
  return d;
}

inline std::vector<float> from_device(Kernels& k, const float* d, size_t n) {
  std::vector<float> h(n);
  k.to_host(d, h.data(), n);
  return h;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (std::isnan(d)) return INFINITY;
    worst = std::max(worst, d);
  }
  return worst;
}

inline double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float x : a) m = std::max(m, std::fabs(static_cast<double>(x)));
  return m;
}

// A weight matrix {in, out} of `type` with values uniform in [-a, a].
struct HostMatrix {
  std::shared_ptr<std::vector<uint8_t>> bytes;
  TensorView view;
};
inline HostMatrix random_matrix(TensorType type, int64_t in, int64_t out, uint64_t seed, float a = 1.0f,
                                const std::string& name = "test.weight") {
  HostMatrix m;
  m.bytes = std::make_shared<std::vector<uint8_t>>(tensor_bytes(type, in * out));
  const std::vector<float> values = random_floats(static_cast<size_t>(in * out), seed, a);
  const size_t rb = tensor_bytes(type, in);
  for (int64_t r = 0; r < out; ++r) quantize_row(type, values.data() + r * in, m.bytes->data() + r * rb, in);
  m.view = TensorView{name, type, {in, out}, m.bytes->data()};
  return m;
}

// Uploads one matrix (as a model's token embedding) to a backend.
inline void upload_matrix(Kernels& k, const HostMatrix& m) {
  ModelWeights w;
  w.tok_embd = m.view;
  auto s = k.upload_weights(w);
  if (!s.ok()) FAIL("upload_weights: " << s.error().describe());
}

struct ModelShape {
  Arch arch = Arch::qwen2;
  int dim = 128, layers = 3, heads = 8, kv_heads = 2, ffn = 256, vocab = 300, context = 512;
  TensorType type = TensorType::f32;
  bool tied = true;
  uint64_t seed = 7;
};

// A random model in memory: matrices of shape.type, norms and biases f32
// (qwen2 gets q/k/v biases and NEOX RoPE), scaled so activations stay O(1).
inline ModelWeights make_model(const ModelShape& s) {
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
  c.rms_eps = 1e-6f;
  auto store = std::make_shared<std::vector<std::vector<uint8_t>>>();
  store->reserve(static_cast<size_t>(s.layers) * 16 + 8);
  uint64_t seed = s.seed * 1000;
  auto tensor = [&](const std::string& name, std::vector<int64_t> shape, TensorType type, float a, float offset) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v = random_floats(static_cast<size_t>(n), ++seed, a);
    for (auto& x : v) x += offset;
    const int64_t in = shape[0];
    const size_t rb = tensor_bytes(type, in);
    std::vector<uint8_t> bytes(rb * static_cast<size_t>(n / in));
    for (int64_t r = 0; r < n / in; ++r) quantize_row(type, v.data() + r * in, bytes.data() + r * rb, in);
    store->push_back(std::move(bytes));
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
  w.source = "random (tests/local_cuda)";
  return w;
}

inline int argmax(std::span<const float> v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace troupe::cuda_test
