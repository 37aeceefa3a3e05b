// The reference kernels: the plainest loops that compute each op, one
// thread, float32 arithmetic in source order, weights dequantised to
// float32 row by row. Every other backend is checked against these.
#include <cmath>
#include <vector>

#include "engine/local/quant.hpp"
#include "engine/local/kernels.hpp"

namespace troupe::engine::local {
namespace {

class ReferenceKernels final : public Kernels {
 public:
  const char* name() const override { return "reference"; }

  void matmul(const TensorView& w, const float* bias, const float* x, int n, float* y) override {
    const int64_t in = w.shape[0], out = w.shape[1];
    const size_t rb = tensor_bytes(w.type, in);
    std::vector<float> row(static_cast<size_t>(in));
    for (int64_t r = 0; r < out; ++r) {
      dequantize_row(w.type, static_cast<const char*>(w.data) + r * rb, row.data(), in);
      for (int i = 0; i < n; ++i) {
        const float* xi = x + static_cast<int64_t>(i) * in;
        float sum = 0.0f;
        for (int64_t c = 0; c < in; ++c) sum += row[c] * xi[c];
        if (bias) sum += bias[r];
        y[static_cast<int64_t>(i) * out + r] = sum;
      }
    }
  }

  void get_rows(const TensorView& w, const int32_t* ids, int n, float* y) override {
    const int64_t width = w.shape[0];
    const size_t rb = tensor_bytes(w.type, width);
    for (int i = 0; i < n; ++i)
      dequantize_row(w.type, static_cast<const char*>(w.data) + ids[i] * rb, y + i * width, width);
  }

  void rmsnorm(const float* x, const float* weight, int n, int width, float eps, float* y) override {
    for (int i = 0; i < n; ++i) {
      const float* xi = x + static_cast<int64_t>(i) * width;
      float* yi = y + static_cast<int64_t>(i) * width;
      float ss = 0.0f;
      for (int c = 0; c < width; ++c) ss += xi[c] * xi[c];
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(width) + eps);
      for (int c = 0; c < width; ++c) yi[c] = weight[c] * (inv * xi[c]);
    }
  }

  void rope(float* x, int n, int n_heads, int head_dim, const int32_t* pos, float theta, bool neox) override {
    const int half = head_dim / 2;
    for (int i = 0; i < n; ++i) {
      for (int h = 0; h < n_heads; ++h) {
        float* v = x + (static_cast<int64_t>(i) * n_heads + h) * head_dim;
        for (int j = 0; j < half; ++j) {
          const float freq = 1.0f / std::pow(theta, static_cast<float>(2 * j) / static_cast<float>(head_dim));
          const float angle = static_cast<float>(pos[i]) * freq;
          const float c = std::cos(angle), s = std::sin(angle);
          const int a = neox ? j : 2 * j;
          const int b = neox ? j + half : 2 * j + 1;
          const float v0 = v[a], v1 = v[b];
          v[a] = v0 * c - v1 * s;
          v[b] = v0 * s + v1 * c;
        }
      }
    }
  }

  void write_kv(const KvLayerView& kv, int pos0, int n, int kv_dim, const float* k, const float* v) override {
    for (int i = 0; i < n; ++i) {
      if (kv.type != KvType::f32) {
        uint16_t (*const narrow)(float) = kv.type == KvType::f16 ? f32_to_f16 : f32_to_bf16;
        uint16_t* kd = kv.k_row_16(pos0 + i);
        uint16_t* vd = kv.v_row_16(pos0 + i);
        for (int c = 0; c < kv_dim; ++c) {
          kd[c] = narrow(k[static_cast<int64_t>(i) * kv_dim + c]);
          vd[c] = narrow(v[static_cast<int64_t>(i) * kv_dim + c]);
        }
        continue;
      }
      float* kd = kv.k_row(pos0 + i);
      float* vd = kv.v_row(pos0 + i);
      for (int c = 0; c < kv_dim; ++c) {
        kd[c] = k[static_cast<int64_t>(i) * kv_dim + c];
        vd[c] = v[static_cast<int64_t>(i) * kv_dim + c];
      }
    }
  }

  void attention(const float* q, const AttentionShape& shape, std::span<const AttentionSeq> seqs,
                 float* out) override {
    const int hd = shape.head_dim, group = shape.n_heads / shape.n_kv_heads;
    const int64_t q_width = static_cast<int64_t>(shape.n_heads) * hd;
    std::vector<float> scores, kt(static_cast<size_t>(hd)), vt(static_cast<size_t>(hd));
    // Row t's keys (values) of one kv head as float32, from either cache type.
    auto row = [&](const KvLayerView& kv, bool keys, int t, int64_t off, std::vector<float>& buf) -> const float* {
      if (kv.type == KvType::f32) return (keys ? kv.k_row(t) : kv.v_row(t)) + off;
      float (*const widen)(uint16_t) = kv.type == KvType::f16 ? f16_to_f32 : bf16_to_f32;
      const uint16_t* h = (keys ? kv.k_row_16(t) : kv.v_row_16(t)) + off;
      for (int c = 0; c < hd; ++c) buf[c] = widen(h[c]);
      return buf.data();
    };
    for (const AttentionSeq& s : seqs) {
      for (int i = 0; i < s.n_q; ++i) {
        const int n_keys = s.pos0 + i + 1;
        scores.assign(static_cast<size_t>(n_keys), 0.0f);
        for (int h = 0; h < shape.n_heads; ++h) {
          const float* qh = q + (s.q_row + i) * q_width + h * hd;
          const int64_t kv_off = static_cast<int64_t>(h / group) * hd;
          for (int t = 0; t < n_keys; ++t) {
            const float* kr = row(s.kv, true, t, kv_off, kt);
            float dot = 0.0f;
            for (int c = 0; c < hd; ++c) dot += qh[c] * kr[c];
            scores[t] = dot * shape.scale;
          }
          softmax(scores.data(), 1, n_keys);
          float* oh = out + (s.q_row + i) * q_width + h * hd;
          for (int c = 0; c < hd; ++c) oh[c] = 0.0f;
          for (int t = 0; t < n_keys; ++t) {
            const float* vr = row(s.kv, false, t, kv_off, vt);
            for (int c = 0; c < hd; ++c) oh[c] += scores[t] * vr[c];
          }
        }
      }
    }
  }

  void silu_mul(float* gate, const float* up, size_t n) override {
    for (size_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  }

  void softmax(float* x, int n, int width) override {
    for (int i = 0; i < n; ++i) {
      float* xi = x + static_cast<int64_t>(i) * width;
      float max = xi[0];
      for (int c = 1; c < width; ++c) max = xi[c] > max ? xi[c] : max;
      float sum = 0.0f;
      for (int c = 0; c < width; ++c) {
        xi[c] = std::exp(xi[c] - max);
        sum += xi[c];
      }
      for (int c = 0; c < width; ++c) xi[c] /= sum;
    }
  }

  void add(float* y, const float* x, size_t n) override {
    for (size_t i = 0; i < n; ++i) y[i] += x[i];
  }
};

}  // namespace

std::unique_ptr<Kernels> make_reference_kernels() { return std::make_unique<ReferenceKernels>(); }

}  // namespace troupe::engine::local
