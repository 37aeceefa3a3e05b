// Helpers of the CUDA backend tests: skipping without a GPU, device buffers
// filled from host vectors, deterministic random data, weight matrices of
// every type wrapped so upload_weights() takes them, and small random
// models (tests/local_forward/random_model.hpp). Header-only includes (the
// tests build in the engine-only build, without the test-support library).
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
#include "local_forward/random_model.hpp"

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

// The shape of this suite's random models: tests/local_forward's
// RandomModelSpec (a header-only builder, usable in the engine-only build)
// with a larger default: qwen2 (biases, NEOX RoPE), GQA 8/2, tied output.
struct ModelShape : troupe::testing::RandomModelSpec {
  ModelShape() {
    arch = Arch::qwen2;
    dim = 128;
    layers = 3;
    heads = 8;
    kv_heads = 2;
    ffn = 256;
    vocab = 300;
    context = 512;
    tied = true;
    seed = 7;
  }
};

inline ModelWeights make_model(const ModelShape& s) { return troupe::testing::make_random_model(s); }

inline int argmax(std::span<const float> v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace troupe::cuda_test
