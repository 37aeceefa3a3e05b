// The optimised CPU kernels: every op parallelised over a ThreadPool by
// output rows (matmul), rows (norms, rope, softmax), (query, head) pairs
// (attention) or chunks (element-wise ops); dot products from cpu_dot
// (AVX2/FMA/F16C when the CPU has them). Work is split by index only, and
// each output element is computed by one routine in one fixed order, so
// results do not depend on the thread count or on the other rows of a batch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/local/cpu_dot.hpp"
#include "engine/local/quant.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/thread_pool.hpp"

namespace troupe::engine::local {
namespace {

constexpr int64_t kRowBlock = 16;  // weight rows per cache tile in matmul
constexpr int64_t kElementChunk = 4096;

class CpuKernels final : public Kernels {
 public:
  explicit CpuKernels(const CpuKernelOptions& o)
      : opts_(o), pool_(o.threads), dot_(cpu::dot_table(o.allow_avx2)),
        name_(std::string("cpu/") + (o.allow_avx2 && cpu::cpu_supports_avx2() ? "avx2" : "plain") + "/" +
              std::to_string(pool_.threads()) + "t") {}

  const char* name() const override { return name_.c_str(); }

  void matmul(const TensorView& w, const float* bias, const float* x, int n, float* y) override {
    const int64_t in = w.shape[0], out = w.shape[1];
    const size_t rb = tensor_bytes(w.type, in);
    const bool q8x = (block_size(w.type) > 1) && opts_.quantize_activations;
    cpu::DotFn dot = nullptr;
    switch (w.type) {
      case TensorType::f32: dot = dot_.f32; break;
      case TensorType::f16: dot = dot_.f16; break;
      case TensorType::bf16: dot = dot_.bf16; break;
      case TensorType::q8_0: dot = q8x ? dot_.q8_0_q8x : dot_.q8_0_f32x; break;
      case TensorType::q4_0: dot = q8x ? dot_.q4_0_q8x : dot_.q4_0_f32x; break;
    }
    // Activation rows as the dot function wants them.
    std::vector<const void*> rows(static_cast<size_t>(n));
    if (q8x) {
      const int64_t nb = in / 32;
      xq_.resize(static_cast<size_t>(n * nb));
      pool_.parallel_for(n, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; ++i) quantize_row(TensorType::q8_0, x + i * in, xq_.data() + i * nb, in);
      });
      for (int i = 0; i < n; ++i) rows[i] = xq_.data() + i * nb;
    } else {
      for (int i = 0; i < n; ++i) rows[i] = x + static_cast<int64_t>(i) * in;
    }
    const char* wdata = static_cast<const char*>(w.data);
    pool_.parallel_for(out, [&](int64_t r0, int64_t r1, int) {
      float tmp[cpu::kMaxTile];
      for (int64_t rb0 = r0; rb0 < r1; rb0 += kRowBlock) {
        const int64_t rb1 = std::min(rb0 + kRowBlock, r1);
        for (int i0 = 0; i0 < n; i0 += cpu::kMaxTile) {
          const int nx = std::min(cpu::kMaxTile, n - i0);
          for (int64_t r = rb0; r < rb1; ++r) {
            dot(wdata + r * rb, rows.data() + i0, nx, in, tmp);
            for (int j = 0; j < nx; ++j) y[(i0 + j) * out + r] = bias ? tmp[j] + bias[r] : tmp[j];
          }
        }
      }
    });
  }

  void get_rows(const TensorView& w, const int32_t* ids, int n, float* y) override {
    const int64_t width = w.shape[0];
    const size_t rb = tensor_bytes(w.type, width);
    for (int i = 0; i < n; ++i)
      dequantize_row(w.type, static_cast<const char*>(w.data) + ids[i] * rb, y + i * width, width);
  }

  void rmsnorm(const float* x, const float* weight, int n, int width, float eps, float* y) override {
    pool_.parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const float* xi = x + i * width;
        float* yi = y + i * width;
        const void* xr = xi;
        float ss = 0.0f;
        dot_.f32(xi, &xr, 1, width, &ss);
        const float inv = 1.0f / std::sqrt(ss / static_cast<float>(width) + eps);
        for (int c = 0; c < width; ++c) yi[c] = weight[c] * (inv * xi[c]);
      }
    });
  }

  void rope(float* x, int n, int n_heads, int head_dim, const int32_t* pos, float theta, bool neox) override {
    const int half = head_dim / 2;
    std::vector<float> freq(static_cast<size_t>(half));
    for (int j = 0; j < half; ++j)
      freq[j] = 1.0f / std::pow(theta, static_cast<float>(2 * j) / static_cast<float>(head_dim));
    pool_.parallel_for(n, [&](int64_t b, int64_t e, int) {
      std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
      for (int64_t i = b; i < e; ++i) {
        for (int j = 0; j < half; ++j) {
          const float angle = static_cast<float>(pos[i]) * freq[j];
          cs[j] = std::cos(angle);
          sn[j] = std::sin(angle);
        }
        for (int h = 0; h < n_heads; ++h) {
          float* v = x + (i * n_heads + h) * head_dim;
          for (int j = 0; j < half; ++j) {
            const int a = neox ? j : 2 * j;
            const int bb = neox ? j + half : 2 * j + 1;
            const float v0 = v[a], v1 = v[bb];
            v[a] = v0 * cs[j] - v1 * sn[j];
            v[bb] = v0 * sn[j] + v1 * cs[j];
          }
        }
      }
    });
  }

  void write_kv(const KvLayerView& kv, int pos0, int n, int kv_dim, const float* k, const float* v) override {
    for (int i = 0; i < n; ++i) {
      std::memcpy(kv.k_row(pos0 + i), k + static_cast<int64_t>(i) * kv_dim, sizeof(float) * kv_dim);
      std::memcpy(kv.v_row(pos0 + i), v + static_cast<int64_t>(i) * kv_dim, sizeof(float) * kv_dim);
    }
  }

  void attention(const float* q, const AttentionShape& shape, std::span<const AttentionSeq> seqs,
                 float* out) override {
    // One task per (query row, head); seq_of[r] finds a query row's sequence.
    struct QRow {
      const AttentionSeq* seq;
      int i;
    };
    std::vector<QRow> qrows;
    int max_keys = 0;
    for (const AttentionSeq& s : seqs) {
      for (int i = 0; i < s.n_q; ++i) qrows.push_back({&s, i});
      max_keys = std::max(max_keys, s.pos0 + s.n_q);
    }
    const int hd = shape.head_dim, n_heads = shape.n_heads, group = n_heads / shape.n_kv_heads;
    const int64_t q_width = static_cast<int64_t>(n_heads) * hd;
    const int64_t tasks = static_cast<int64_t>(qrows.size()) * n_heads;
    pool_.parallel_for(tasks, [&](int64_t b, int64_t e, int) {
      std::vector<float> scores(static_cast<size_t>(max_keys));
      for (int64_t task = b; task < e; ++task) {
        const QRow& qr = qrows[task / n_heads];
        const int h = static_cast<int>(task % n_heads);
        const AttentionSeq& s = *qr.seq;
        const int row = s.q_row + qr.i;
        const int n_keys = s.pos0 + qr.i + 1;
        const void* qh = q + row * q_width + h * hd;
        const int64_t kv_off = static_cast<int64_t>(h / group) * hd;
        float max = -INFINITY;
        for (int t = 0; t < n_keys; ++t) {
          float d;
          dot_.f32(s.kv.k_row(t) + kv_off, &qh, 1, hd, &d);
          scores[t] = d * shape.scale;
          max = std::max(max, scores[t]);
        }
        float sum = 0.0f;
        for (int t = 0; t < n_keys; ++t) {
          scores[t] = std::exp(scores[t] - max);
          sum += scores[t];
        }
        const float inv = 1.0f / sum;
        float* oh = out + row * q_width + h * hd;
        std::fill(oh, oh + hd, 0.0f);
        for (int t = 0; t < n_keys; ++t) dot_.axpy(scores[t] * inv, s.kv.v_row(t) + kv_off, oh, hd);
      }
    });
  }

  void silu_mul(float* gate, const float* up, size_t n) override {
    pool_.parallel_for((static_cast<int64_t>(n) + kElementChunk - 1) / kElementChunk, [&](int64_t b, int64_t e, int) {
      const size_t end = std::min(n, static_cast<size_t>(e * kElementChunk));
      for (size_t i = static_cast<size_t>(b * kElementChunk); i < end; ++i)
        gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    });
  }

  void softmax(float* x, int n, int width) override {
    pool_.parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        float* xi = x + i * width;
        const float max = *std::max_element(xi, xi + width);
        float sum = 0.0f;
        for (int c = 0; c < width; ++c) {
          xi[c] = std::exp(xi[c] - max);
          sum += xi[c];
        }
        const float inv = 1.0f / sum;
        for (int c = 0; c < width; ++c) xi[c] *= inv;
      }
    });
  }

  void add(float* y, const float* x, size_t n) override {
    pool_.parallel_for((static_cast<int64_t>(n) + kElementChunk - 1) / kElementChunk, [&](int64_t b, int64_t e, int) {
      const size_t end = std::min(n, static_cast<size_t>(e * kElementChunk));
      for (size_t i = static_cast<size_t>(b * kElementChunk); i < end; ++i) y[i] += x[i];
    });
  }

 private:
  CpuKernelOptions opts_;
  ThreadPool pool_;
  const cpu::DotTable& dot_;
  std::string name_;
  std::vector<BlockQ8_0> xq_;  // activations quantised for q8_0/q4_0 weights
};

}  // namespace

std::unique_ptr<Kernels> make_cpu_kernels(const CpuKernelOptions& options) {
  return std::make_unique<CpuKernels>(options);
}

bool cpu_has_avx2() { return cpu::cpu_supports_avx2(); }

}  // namespace troupe::engine::local
