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
#include "engine/local/cpu_float_gemm.hpp"
#include "engine/local/cpu_q8_gemm.hpp"
#include "engine/local/quant.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/thread_pool.hpp"

namespace troupe::engine::local {
namespace {

constexpr int64_t kRowBlock = 16;  // weight rows per cache tile in matmul
constexpr int64_t kElementChunk = 4096;
constexpr int kTileMinRows = 16;   // activation rows from which matmul uses the multi-row tiles
constexpr int kGemmMinRows = 8;    // activation rows from which matmuls use a packed GEMM (q8_0/q4_0, f16/bf16/f32)
constexpr int kPanelTiles = 4;     // GEMM weight tiles packed at once (16 rows)
// Float GEMM panel (weights as float32) per thread: at least kPanelTiles
// tiles, else as many as fit in this many bytes, about half a 1 MB L2:
// measured on a 768 x 2048 f16 matmul of 512 rows, 16-row panels gave
// 156 GFLOPS, 128 rows 188 (the activations stream through cache once per
// panel); for 2048-wide rows 64-row panels (512 KB) did best.
constexpr int64_t kFloatPanelBytes = 512 * 1024;

class CpuKernels final : public Kernels {
 public:
  explicit CpuKernels(const CpuKernelOptions& o)
      : opts_(o), pool_(o.threads), dot_(cpu::dot_table(o.allow_avx2, o.allow_avx512)),
        gemm_(o.allow_avx2 && o.allow_avx512 ? cpu::q8_gemm() : nullptr),
        fgemm_(o.allow_avx2 && o.allow_avx512 ? cpu::float_gemm() : nullptr),
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
      bool gemm;  // q8_0/q4_0 through the packed prefill GEMM (cpu_q8_gemm)
      bool q4;    // q4_0 weights
      bool fgemm;  // f16/bf16/f32 through the float prefill GEMM (cpu_float_gemm)
      TensorType type;
    };
    std::vector<Part> parts;
    parts.reserve(outs.size());
    int64_t total = 0;
    bool any_q8x = false, any_f32x = false, any_gemm = false;
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
      const bool gemm = q8x && gemm_ && n >= kGemmMinRows;
      // (Widths that are not a multiple of 8 keep the row code's scalar tail.)
      const bool fgemm = block_size(w.type) == 1 && fgemm_ && n >= kGemmMinRows && in % 8 == 0;
      parts.push_back({dot, tile, static_cast<const char*>(w.data), tensor_bytes(w.type, in), w.shape[1], total, o.bias,
                       o.y, q8x, gemm, w.type == TensorType::q4_0, fgemm, w.type});
      any_gemm = any_gemm || gemm;
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
      if (!any_gemm) xq_.resize(static_cast<size_t>(n * nb));
      // The GEMM's copy: groups of kGemmCols rows, the last one zero-padded.
      const size_t gbytes = any_gemm ? gemm_->x_group_bytes(in) : 0;
      const int64_t groups = (n + cpu::kGemmCols - 1) / cpu::kGemmCols;
      if (any_gemm) {
        xg_.resize(static_cast<size_t>(groups) * gbytes + 64);
        xg_at_ = align64(xg_.data());
        std::memset(xg_at_ + (groups - 1) * gbytes, 0, gbytes);
      }
      pool_.parallel_for(n, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; ++i) {
          // With the GEMM, every quantised-activation weight takes it.
          if (any_gemm)
            gemm_->quantize_x(x + i * in, in, static_cast<int>(i % cpu::kGemmCols),
                              xg_at_ + (i / cpu::kGemmCols) * gbytes);
          else
            quantize_row(TensorType::q8_0, x + i * in, xq_.data() + i * nb, in);
        }
      });
      if (!any_gemm) {
        xq.resize(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) xq[i] = xq_.data() + i * nb;
      }
    }
    pool_.parallel_for(total, [&](int64_t g0, int64_t g1, int) {
      float tmp[std::max(cpu::kMaxTile, cpu::kRows4)], tmp2[cpu::kTileRows * cpu::kMaxTile];
      std::vector<uint8_t> panel;
      for (const Part& p : parts) {
        const int64_t r0 = std::max(g0, p.first) - p.first, r1 = std::min(g1, p.first + p.rows) - p.first;
        if (r1 <= r0) continue;
        if (p.gemm) {
          gemm_part(p.wdata, p.row_bytes, p.q4, r0, r1, p.rows, in, n, p.bias, p.y, panel);
          continue;
        }
        if (p.fgemm) {
          float_gemm_part(p.wdata, p.row_bytes, p.type, r0, r1, p.rows, in, x, n, p.bias, p.y, panel);
          continue;
        }
        const void* const* rows = p.q8x ? xq.data() : xf.data();
        const int64_t out = p.rows;
        // (q8_0/q4_0 from kGemmMinRows rows on AVX-512 VNNI: gemm_part above.)
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

  // Rows [r0, r1) of a q8_0/q4_0 matrix through the packed GEMM: each
  // panel of kPanelTiles tiles (16 rows) packed once into `panel` (this
  // thread's: 4 x w_tile_bytes(in), 70 KB for in = 2048, reused from
  // cache), then every activation group against each of its tiles. No
  // copy of the weights outlives the call.
  void gemm_part(const char* w, size_t row_bytes, bool q4, int64_t r0, int64_t r1, int64_t out, int64_t in, int n,
                 const float* bias, float* y, std::vector<uint8_t>& panel) {
    constexpr int R = cpu::kGemmRows, C = cpu::kGemmCols;
    const size_t tbytes = gemm_->w_tile_bytes(in), gbytes = gemm_->x_group_bytes(in);
    panel.resize(kPanelTiles * tbytes + 64);
    uint8_t* const pt = align64(panel.data());
    float res[R * C];
    for (int64_t rb0 = r0; rb0 < r1; rb0 += kPanelTiles * R) {
      const int64_t rb1 = std::min(rb0 + kPanelTiles * R, r1);
      const int tiles = static_cast<int>((rb1 - rb0 + R - 1) / R);
      for (int t = 0; t < tiles; ++t) {
        const int64_t first = rb0 + t * R;
        gemm_->pack_w(w + first * row_bytes, row_bytes, static_cast<int>(std::min<int64_t>(R, rb1 - first)), in, q4,
                      pt + t * tbytes);
      }
      for (int i0 = 0; i0 < n; i0 += C) {
        const int nx = std::min(C, n - i0);
        const uint8_t* group = xg_at_ + (i0 / C) * gbytes;
        for (int t = 0; t < tiles; ++t) {
          gemm_->tile(pt + t * tbytes, group, in, res);
          const int64_t first = rb0 + t * R;
          const int nr = static_cast<int>(std::min<int64_t>(R, rb1 - first));
          for (int j = 0; j < nx; ++j) {
            float* yj = y + (i0 + j) * out + first;
            for (int k = 0; k < nr; ++k) yj[k] = bias ? res[k * C + j] + bias[first + k] : res[k * C + j];
          }
        }
      }
    }
  }

  // Rows [r0, r1) of an f16/bf16/f32 matrix through the float GEMM: each
  // panel of tiles (kFloatPanelBytes, at least 16 rows) converted to
  // float32 once into `panel` (this thread's, reused from L2), then every
  // group of four activation rows (read in place, from L1 while it passes
  // the panel; the last group repeats its last row) against each of its
  // tiles. No copy of the weights outlives the call.
  void float_gemm_part(const char* w, size_t row_bytes, TensorType type, int64_t r0, int64_t r1, int64_t out,
                       int64_t in, const float* x, int n, const float* bias, float* y, std::vector<uint8_t>& panel) {
    constexpr int R = cpu::kFloatGemmRows, C = cpu::kFloatGemmCols;
    const size_t tbytes = fgemm_->w_tile_bytes(in);
    const int64_t panel_tiles = std::max<int64_t>(kPanelTiles, kFloatPanelBytes / static_cast<int64_t>(tbytes));
    panel.resize(panel_tiles * tbytes + 64);
    uint8_t* const pt = align64(panel.data());
    for (int64_t rb0 = r0; rb0 < r1; rb0 += panel_tiles * R) {
      const int64_t rb1 = std::min(rb0 + panel_tiles * R, r1);
      const int tiles = static_cast<int>((rb1 - rb0 + R - 1) / R);
      for (int t = 0; t < tiles; ++t) {
        const int64_t first = rb0 + t * R;
        fgemm_->pack_w(w + first * row_bytes, row_bytes, type, static_cast<int>(std::min<int64_t>(R, rb1 - first)), in,
                       pt + t * tbytes);
      }
      for (int i0 = 0; i0 < n; i0 += C) {
        const int nx = std::min(C, n - i0);
        const float* xs[C];
        for (int j = 0; j < C; ++j) xs[j] = x + static_cast<int64_t>(i0 + std::min(j, nx - 1)) * in;
        for (int t = 0; t < tiles; ++t) {
          const int64_t first = rb0 + t * R;
          float* ys[C];
          for (int j = 0; j < nx; ++j) ys[j] = y + (i0 + j) * out + first;
          fgemm_->tile(pt + t * tbytes, xs, in, bias ? bias + first : nullptr, ys, nx,
                       static_cast<int>(std::min<int64_t>(R, rb1 - first)));
        }
      }
    }
  }

  static uint8_t* align64(uint8_t* p) {
    return p + (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
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
    if (kv.type != KvType::f32) {
      const auto narrow = kv.type == KvType::f16 ? dot_.to_f16 : dot_.to_bf16;
      for (int i = 0; i < n; ++i) {
        const int64_t at = static_cast<int64_t>(i) * kv_dim;
        narrow(k + at, kv.k_row_16(pos0 + i), kv_dim);
        narrow(v + at, kv.v_row_16(pos0 + i), kv_dim);
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
    // One task per (group of up to kMaxTile consecutive query rows of one
    // sequence, head). The group's rows share the keys they all see, so
    // on AVX-512 one tile call gives the scores of four keys for all of
    // them (each score exactly what the single-key dot gives); the keys
    // only later rows see, and keys not four to a cache block, go through
    // the single-key dot. Softmax then runs per query row as before, and
    // the value sums two query rows at a time (each exactly one row's).
    struct Group {
      const AttentionSeq* seq;
      int i0, nq;
      const int64_t* off;  // element offset of each position's row (KvLayerView::offset)
    };
    constexpr int G = cpu::kMaxTile;
    static_assert(cpu::kTileRows == cpu::kRows4, "a tile and a rows4 call take the same keys");
    std::vector<Group> groups;
    std::vector<std::vector<int64_t>> offsets(seqs.size());
    int max_keys = 0;
    for (size_t si = 0; si < seqs.size(); ++si) {
      const AttentionSeq& s = seqs[si];
      const int n_pos = s.pos0 + s.n_q;
      offsets[si].resize(static_cast<size_t>(n_pos));
      for (int t = 0; t < n_pos; ++t) offsets[si][t] = s.kv.offset(t);
      for (int i = 0; i < s.n_q; i += G) groups.push_back({&s, i, std::min(G, s.n_q - i), offsets[si].data()});
      max_keys = std::max(max_keys, n_pos);
    }
    const int hd = shape.head_dim, n_heads = shape.n_heads, group = n_heads / shape.n_kv_heads;
    const int64_t q_width = static_cast<int64_t>(n_heads) * hd;
    const int64_t n_groups = static_cast<int64_t>(groups.size());
    const int64_t tasks = n_groups * n_heads;
    pool_.parallel_for(tasks, [&](int64_t b, int64_t e, int) {
      std::vector<float> scores(static_cast<size_t>(G) * max_keys);
      std::vector<const void*> vrows(static_cast<size_t>(max_keys));
      for (int64_t task = b; task < e; ++task) {
        // Groups from both ends in turn (0, last, 1, last - 1, ...): a later
        // group sees more keys, so each thread's contiguous range of tasks
        // gets a like share of the work.
        const int64_t k = task / n_heads;
        const Group& g = groups[static_cast<size_t>(k % 2 ? n_groups - 1 - k / 2 : k / 2)];
        const int h = static_cast<int>(task % n_heads);
        const AttentionSeq& s = *g.seq;
        const int64_t kv_off = static_cast<int64_t>(h / group) * hd;
        const bool narrow = s.kv.type != KvType::f32;  // 16-bit elements (f16 or bf16)
        const KvFns fn = kv_fns(s.kv.type);
        const size_t row_bytes = static_cast<size_t>(s.kv.row_stride) * kv_element_bytes(s.kv.type);
        const cpu::DotFn dot = fn.dot;
        const cpu::Dot4Fn rows4 = fn.rows4;
        // (Tiles only for head sizes that are multiples of 8: with a scalar
        // tail of 4 to 7 elements the tile and the single-key dot were
        // measured to differ in the last bit.)
        const cpu::DotTileFn tile = hd % 8 ? nullptr : fn.tile;
        auto k_at = [&](int t) -> const void* {
          return narrow ? static_cast<const void*>(reinterpret_cast<const uint16_t*>(s.kv.k) + g.off[t] + kv_off)
                        : static_cast<const void*>(s.kv.k + g.off[t] + kv_off);
        };
        const void* qh[G];
        for (int j = 0; j < g.nq; ++j) qh[j] = q + (s.q_row + g.i0 + j) * q_width + h * hd;
        // Raw dot products: scores[j * max_keys + t] for query row j.
        const int shared = s.pos0 + g.i0 + 1;  // keys every row of the group sees
        float d[cpu::kTileRows * G];
        for (int t = 0; t < shared;) {
          // Rows within one cache block are evenly spaced; four of them
          // make a tile (prefill chunks only: a decode step streams each
          // key once, in order, row by row).
          const int block_end = std::min(shared, (t / s.kv.block_size + 1) * s.kv.block_size);
          for (; s.n_q > 1 && t + cpu::kTileRows <= block_end; t += cpu::kTileRows) {
            if (tile) {
              tile(k_at(t), row_bytes, qh, g.nq, hd, d);
              for (int r = 0; r < cpu::kTileRows; ++r)
                for (int j = 0; j < g.nq; ++j) scores[j * max_keys + t + r] = d[r * g.nq + j];
            } else {
              for (int j = 0; j < g.nq; ++j) {
                rows4(k_at(t), row_bytes, qh[j], hd, d);
                for (int r = 0; r < cpu::kRows4; ++r) scores[j * max_keys + t + r] = d[r];
              }
            }
          }
          for (; t < block_end; ++t) {
            dot(k_at(t), qh, g.nq, hd, d);
            for (int j = 0; j < g.nq; ++j) scores[j * max_keys + t] = d[j];
          }
        }
        for (int j = 1; j < g.nq; ++j)
          for (int t = shared; t <= s.pos0 + g.i0 + j; ++t) dot(k_at(t), &qh[j], 1, hd, &scores[j * max_keys + t]);
        for (int j = 0; j < g.nq; ++j) {
          float* sc = scores.data() + j * max_keys;
          const int n_keys = s.pos0 + g.i0 + j + 1;
          float max = -INFINITY;
          for (int t = 0; t < n_keys; ++t) {
            sc[t] = sc[t] * shape.scale;
            max = std::max(max, sc[t]);
          }
          float sum = 0.0f;
          for (int t = 0; t < n_keys; ++t) {
            sc[t] = std::exp(sc[t] - max);
            sum += sc[t];
          }
          const float inv = 1.0f / sum;
          // The weights as axpy would take them.
          for (int t = 0; t < n_keys; ++t) sc[t] = sc[t] * inv;
        }
        // Every value row in turn into each query row's output, two query
        // rows per call (each output exactly what one axpy_rows gives).
        const int all_keys = s.pos0 + g.i0 + g.nq;
        for (int t = 0; t < all_keys; ++t)
          vrows[t] = narrow ? static_cast<const void*>(reinterpret_cast<const uint16_t*>(s.kv.v) + g.off[t] + kv_off)
                            : static_cast<const void*>(s.kv.v + g.off[t] + kv_off);
        auto out_row = [&](int j) {
          float* oh = out + (s.q_row + g.i0 + j) * q_width + h * hd;
          std::fill(oh, oh + hd, 0.0f);
          return oh;
        };
        auto weights = [&](int j) { return scores.data() + j * max_keys; };
        auto n_keys = [&](int j) { return s.pos0 + g.i0 + j + 1; };
        int j = 0;
        for (; j + 1 < g.nq; j += 2) {
          float *o0 = out_row(j), *o1 = out_row(j + 1);
          fn.axpy_rows2(weights(j), weights(j + 1), vrows.data(), n_keys(j), n_keys(j + 1), o0, o1, hd);
        }
        if (j < g.nq) fn.axpy_rows(weights(j), vrows.data(), n_keys(j), out_row(j), hd);
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
  // The dot table's functions attention uses for one KV element type.
  struct KvFns {
    cpu::DotFn dot;
    cpu::Dot4Fn rows4;
    cpu::DotTileFn tile;  // nullptr where the table has none
    void (*axpy_rows)(const float*, const void* const*, int64_t, float*, int64_t);
    cpu::DotTable::AxpyRows2Fn axpy_rows2;
  };
  KvFns kv_fns(KvType t) const {
    switch (t) {
      case KvType::f16: return {dot_.f16, dot_.f16_rows4, dot_.f16_tile, dot_.axpy_rows_f16, dot_.axpy_rows2_f16};
      case KvType::bf16:
        return {dot_.bf16, dot_.bf16_rows4, dot_.bf16_tile, dot_.axpy_rows_bf16, dot_.axpy_rows2_bf16};
      case KvType::f32: break;
    }
    return {dot_.f32, dot_.f32_rows4, dot_.f32_tile, dot_.axpy_rows, dot_.axpy_rows2};
  }

  CpuKernelOptions opts_;
  ThreadPool pool_;
  const cpu::DotTable& dot_;
  const cpu::Q8Gemm* gemm_;  // nullptr: no AVX-512 VNNI (or not allowed)
  const cpu::FloatGemm* fgemm_;  // likewise
  std::string name_;
  std::vector<BlockQ8_0> xq_;  // activations quantised for q8_0/q4_0 weights
  std::vector<uint8_t> xg_;    // the same, packed for the GEMM (from xg_at_, 64-byte aligned)
  uint8_t* xg_at_ = nullptr;
};

}  // namespace

std::unique_ptr<Kernels> make_cpu_kernels(const CpuKernelOptions& options) {
  return std::make_unique<CpuKernels>(options);
}

bool cpu_has_avx2() { return cpu::cpu_supports_avx2(); }

}  // namespace troupe::engine::local
