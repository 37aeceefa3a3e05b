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
constexpr int kTileMinRows = 16;   // activation rows from which matmul uses the multi-row tiles

class CpuKernels final : public Kernels {
 public:
  explicit CpuKernels(const CpuKernelOptions& o)
      : opts_(o), pool_(o.threads), dot_(cpu::dot_table(o.allow_avx2, o.allow_avx512)),
        name_(std::string("cpu/") + isa_name(o) + "/" + std::to_string(pool_.threads()) + "t") {}

  static const char* isa_name(const CpuKernelOptions& o) {
    if (o.allow_avx2 && o.allow_avx512 && cpu::cpu_supports_avx512_vnni()) return "avx512vnni";
    return o.allow_avx2 && cpu::cpu_supports_avx2() ? "avx2" : "plain";
  }

  const char* name() const override { return name_.c_str(); }

  void matmul(const TensorView& w, const float* bias, const float* x, int n, float* y) override {
    const MatmulOut one{&w, bias, y};
    matmuls(std::span<const MatmulOut>(&one, 1), x, n);
  }

  // One parallel_for over the output rows of every matrix, back to back;
  // activations quantised once for all quantised weights. Each output
  // element is one dot() call over the same tile of x rows as a lone
  // matmul would make, so the results are the same bit for bit.
  void matmuls(std::span<const MatmulOut> outs, const float* x, int n) override {
    if (outs.empty() || n <= 0) return;
    const int64_t in = outs[0].w->shape[0];
    struct Part {
      cpu::DotFn dot;
      cpu::DotTileFn tile;  // kTileRows weight rows, a tile of x rows: the same sums as dot (nullptr: none)
      const char* wdata;
      size_t row_bytes;
      int64_t rows, first;  // rows of this matrix; its first row in the concatenation
      const float* bias;
      float* y;
      bool q8x;
    };
    std::vector<Part> parts;
    parts.reserve(outs.size());
    int64_t total = 0;
    bool any_q8x = false, any_f32x = false;
    for (const MatmulOut& o : outs) {
      const TensorView& w = *o.w;
      const bool q8x = (block_size(w.type) > 1) && opts_.quantize_activations;
      cpu::DotFn dot = nullptr;
      cpu::DotTileFn tile = nullptr;
      switch (w.type) {
        case TensorType::f32: dot = dot_.f32, tile = dot_.f32_tile; break;
        case TensorType::f16: dot = dot_.f16, tile = dot_.f16_tile; break;
        case TensorType::bf16: dot = dot_.bf16, tile = dot_.bf16_tile; break;
        case TensorType::q8_0:
          dot = q8x ? dot_.q8_0_q8x : dot_.q8_0_f32x;
          tile = q8x ? dot_.q8_0_q8x_tile : nullptr;
          break;
        case TensorType::q4_0:
          dot = q8x ? dot_.q4_0_q8x : dot_.q4_0_f32x;
          tile = q8x ? dot_.q4_0_q8x_tile : nullptr;
          break;
      }
      parts.push_back({dot, tile, static_cast<const char*>(w.data), tensor_bytes(w.type, in), w.shape[1], total, o.bias,
                       o.y, q8x});
      total += w.shape[1];
      (q8x ? any_q8x : any_f32x) = true;
    }
    // Activation rows as the dot functions want them.
    std::vector<const void*> xf, xq;
    if (any_f32x) {
      xf.resize(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) xf[i] = x + static_cast<int64_t>(i) * in;
    }
    if (any_q8x) {
      const int64_t nb = in / 32;
      xq_.resize(static_cast<size_t>(n * nb));
      pool_.parallel_for(n, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; ++i) quantize_row(TensorType::q8_0, x + i * in, xq_.data() + i * nb, in);
      });
      xq.resize(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) xq[i] = xq_.data() + i * nb;
    }
    pool_.parallel_for(total, [&](int64_t g0, int64_t g1, int) {
      float tmp[std::max(cpu::kMaxTile, cpu::kRows4)], tmp2[cpu::kTileRows * cpu::kMaxTile];
      for (const Part& p : parts) {
        const int64_t r0 = std::max(g0, p.first) - p.first, r1 = std::min(g1, p.first + p.rows) - p.first;
        if (r1 <= r0) continue;
        const void* const* rows = p.q8x ? xq.data() : xf.data();
        const int64_t out = p.rows;
        // Small batches (decode) go row by row on purpose: the weights then
        // stream through memory in order, which the hardware prefetcher
        // follows; four rows read side by side measured 2-3x slower at
        // batch 1. Larger batches (prefill) reuse each 16-row block of
        // weights from cache across their x tiles, where tiles pay.
        for (int64_t rb0 = r0; rb0 < r1; rb0 += kRowBlock) {
          const int64_t rb1 = std::min(rb0 + kRowBlock, r1);
          for (int i0 = 0; i0 < n; i0 += cpu::kMaxTile) {
            const int nx = std::min(cpu::kMaxTile, n - i0);
            int64_t r = rb0;
            if (p.tile && n >= kTileMinRows)
              for (; r + cpu::kTileRows <= rb1; r += cpu::kTileRows) {
                p.tile(p.wdata + r * p.row_bytes, p.row_bytes, rows + i0, nx, in, tmp2);
                for (int k = 0; k < cpu::kTileRows; ++k)
                  for (int j = 0; j < nx; ++j)
                    p.y[(i0 + j) * out + r + k] = p.bias ? tmp2[k * nx + j] + p.bias[r + k] : tmp2[k * nx + j];
              }
            for (; r < rb1; ++r) {
              p.dot(p.wdata + r * p.row_bytes, rows + i0, nx, in, tmp);
              for (int j = 0; j < nx; ++j) p.y[(i0 + j) * out + r] = p.bias ? tmp[j] + p.bias[r] : tmp[j];
            }
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
    if (kv.type == KvType::f16) {
      for (int i = 0; i < n; ++i) {
        const int64_t at = static_cast<int64_t>(i) * kv_dim;
        dot_.to_f16(k + at, kv.k_row_f16(pos0 + i), kv_dim);
        dot_.to_f16(v + at, kv.v_row_f16(pos0 + i), kv_dim);
      }
      return;
    }
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
      std::vector<const void*> vrows(static_cast<size_t>(max_keys));
      for (int64_t task = b; task < e; ++task) {
        const QRow& qr = qrows[task / n_heads];
        const int h = static_cast<int>(task % n_heads);
        const AttentionSeq& s = *qr.seq;
        const int row = s.q_row + qr.i;
        const int n_keys = s.pos0 + qr.i + 1;
        const void* qh = q + row * q_width + h * hd;
        const int64_t kv_off = static_cast<int64_t>(h / group) * hd;
        float max = -INFINITY;
        const bool half = s.kv.type == KvType::f16;
        const size_t row_bytes = static_cast<size_t>(s.kv.row_stride) * kv_element_bytes(s.kv.type);
        auto k_at = [&](int t) -> const void* {
          return half ? static_cast<const void*>(s.kv.k_row_f16(t) + kv_off) : s.kv.k_row(t) + kv_off;
        };
        for (int t = 0; t < n_keys;) {
          // Four keys in one block are evenly spaced: one rows4 call gives
          // the four dots the single-row call would. Only for a prefill
          // chunk, whose queries reuse the keys from cache; a decode step
          // streams each key once, in order, row by row.
          float d[cpu::kRows4];
          int got = 1;
          if (s.n_q > 1 && t + cpu::kRows4 <= n_keys &&
              t / s.kv.block_size == (t + cpu::kRows4 - 1) / s.kv.block_size) {
            (half ? dot_.f16_rows4 : dot_.f32_rows4)(k_at(t), row_bytes, qh, hd, d);
            got = cpu::kRows4;
          } else {
            (half ? dot_.f16 : dot_.f32)(k_at(t), &qh, 1, hd, d);
          }
          for (int j = 0; j < got; ++j, ++t) {
            scores[t] = d[j] * shape.scale;
            max = std::max(max, scores[t]);
          }
        }
        float sum = 0.0f;
        for (int t = 0; t < n_keys; ++t) {
          scores[t] = std::exp(scores[t] - max);
          sum += scores[t];
        }
        const float inv = 1.0f / sum;
        float* oh = out + row * q_width + h * hd;
        std::fill(oh, oh + hd, 0.0f);
        // The weights as axpy would take them, then every value row in turn.
        for (int t = 0; t < n_keys; ++t) {
          scores[t] = scores[t] * inv;
          vrows[t] = half ? static_cast<const void*>(s.kv.v_row_f16(t) + kv_off) : s.kv.v_row(t) + kv_off;
        }
        (half ? dot_.axpy_rows_f16 : dot_.axpy_rows)(scores.data(), vrows.data(), n_keys, oh, hd);
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
