// The compute kernels of the forward pass, behind one small interface, so
// that the model, the KV cache and the scheduler never depend on how the
// arithmetic is done. Implementations:
//   make_reference_kernels()  plain loops, single thread: the reference every
//                             other backend is tested against, op by op;
//   make_cpu_kernels(opts)    the optimised CPU path: a thread pool, AVX2/FMA
//                             (selected at run time; plain code otherwise),
//                             F16C for f16 weights, integer dot products for
//                             q8_0/q4_0 weights (AVX-512 VNNI where the CPU
//                             has it, with the same results as AVX2);
//   (later) engine/local/cuda/ implements the same interface.
//
// What callers may rely on:
// - Activations are float32 row batches: `n` rows of `width` contiguous
//   floats, rows back to back. Every float pointer an op takes must come from
//   this backend's alloc() (host memory for the CPU backends, device memory
//   for a GPU backend); weights are TensorViews as ModelWeights holds them
//   (a GPU backend maps them to its own copies). Integer arrays (token ids,
//   positions, block tables) and the op parameters are host memory.
// - Ops are synchronous: when one returns, its output is written. One
//   Kernels object runs one op at a time (it is not re-entrant; the CPU
//   backend parallelises inside each op).
// - Row results do not depend on the batch: the output row for an input row
//   is bit-identical whatever the other rows in the call and whatever the
//   thread count. (Batch invariance of whole forward passes rests on this.)
// - Weight element types: f32, f16, bf16, q8_0, q4_0 for matmul and
//   get_rows; quantised matrices need `in` to be a multiple of 32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "engine/local/model.hpp"

namespace troupe::engine::local {

// The element type of cached keys and values: float32 (the default; the
// forward pass is then exactly as before), or IEEE half, which halves the
// cache's bytes per token at a small rounding cost (keys and values are
// rounded to f16 when written; attention computes in float32).
enum class KvType { f32, f16 };
const char* to_string(KvType t);
// Bytes of one cached element of type t (4 or 2).
inline size_t kv_element_bytes(KvType t) { return t == KvType::f16 ? 2 : 4; }

// One sequence's keys and values of one layer, wherever they live. Rows
// (one per token position, `kv_dim` = n_kv_heads * head_dim elements each)
// sit in fixed-size physical blocks of `block_size` rows; the block table
// maps a sequence's logical block (position / block_size) to a physical
// block index. Position p is at
//   k + block_table[p / block_size] * block_stride + (p % block_size) * row_stride
// and likewise for v, counted in elements of `type`: for KvType::f16 the
// storage at k and v holds uint16_t halves (k_row_f16()), for f32 floats
// (k_row()). A contiguous cache is the special case of one block
// of context-length rows (block_table = {s} for sequence s). A paged cache
// passes its pool's per-layer base pointers, its layout, and the sequence's
// block table; blocks may be shared between sequences (prefix sharing) as
// long as nobody writes a shared block.
struct KvLayerView {
  float* k = nullptr;            // base of physical block 0, this layer
  float* v = nullptr;
  int block_size = 0;            // rows per block
  int64_t block_stride = 0;      // elements from one physical block to the next
  int64_t row_stride = 0;        // elements from one row to the next (>= kv_dim)
  const int32_t* block_table = nullptr;
  int n_blocks = 0;              // entries in block_table
  int n_tokens = 0;              // rows valid for attention: positions [0, n_tokens)
  KvType type = KvType::f32;

  int64_t offset(int pos) const {
    return block_table[pos / block_size] * block_stride + static_cast<int64_t>(pos % block_size) * row_stride;
  }
  float* k_row(int pos) const { return k + offset(pos); }  // type == f32
  float* v_row(int pos) const { return v + offset(pos); }
  uint16_t* k_row_f16(int pos) const { return reinterpret_cast<uint16_t*>(k) + offset(pos); }  // type == f16
  uint16_t* v_row_f16(int pos) const { return reinterpret_cast<uint16_t*>(v) + offset(pos); }
};

// Queries of one sequence inside a batch's query rows: rows
// [q_row, q_row + n_q) of q, at positions pos0, pos0 + 1, ...; causal:
// query i attends to key positions [0, pos0 + i]. kv.n_tokens must be at
// least pos0 + n_q and the rows for those positions already written.
struct AttentionSeq {
  int q_row = 0;
  int n_q = 0;
  int pos0 = 0;
  KvLayerView kv;
};

struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;   // n_heads % n_kv_heads == 0; query head h reads kv head h / (n_heads / n_kv_heads)
  int head_dim = 0;
  float scale = 0.0f;   // usually 1 / sqrt(head_dim)
};

class Kernels {
 public:
  virtual ~Kernels() = default;
  virtual const char* name() const = 0;

  // Memory for activations and KV rows that this backend's ops can read and
  // write: `n` floats, zero-filled, freed when the last copy of the pointer
  // goes. Host memory for the CPU backends.
  virtual std::shared_ptr<float[]> alloc(size_t n);
  // Copies n floats from backend memory to host memory (memcpy on the CPU).
  virtual void to_host(const float* src, float* host_dst, size_t n);
  // Copies n floats from host memory into backend memory.
  virtual void from_host(const float* host_src, float* dst, size_t n);

  // y[n][out] = x[n][in] · Wᵀ (+ bias[out] when bias != nullptr), for W with
  // shape {in, out}. x and y must not overlap.
  virtual void matmul(const TensorView& w, const float* bias, const float* x, int n, float* y) = 0;
  // Several matmuls of the same x (q/k/v; gate/up): outs[i].y = x · outs[i].wᵀ
  // (+ bias). Each output is exactly what matmul() would write; a backend
  // may run them as one parallel op (one wake of its threads, x prepared
  // once). The default calls matmul() for each.
  struct MatmulOut {
    const TensorView* w = nullptr;
    const float* bias = nullptr;
    float* y = nullptr;
  };
  virtual void matmuls(std::span<const MatmulOut> outs, const float* x, int n);
  // y[i] = row ids[i] of W ({width, rows}), as float32: the embedding lookup.
  virtual void get_rows(const TensorView& w, const int32_t* ids, int n, float* y) = 0;
  // y[i] = x[i] / sqrt(mean(x[i]²) + eps) * weight, for n rows of width floats.
  // y may equal x.
  virtual void rmsnorm(const float* x, const float* weight, int n, int width, float eps, float* y) = 0;
  // Rotates, in place, each of the n rows of x (n_heads heads of head_dim)
  // by its position pos[i]: pairs (2j, 2j+1) when !neox, (j, j + head_dim/2)
  // when neox, by angle pos * theta^(-2j/head_dim).
  virtual void rope(float* x, int n, int n_heads, int head_dim, const int32_t* pos, float theta, bool neox) = 0;
  // Stores n rows of new keys and values (kv_dim floats each) for positions
  // pos0 .. pos0+n-1 of one sequence into its cache (rounded to f16, ties
  // to even, when kv.type is f16).
  virtual void write_kv(const KvLayerView& kv, int pos0, int n, int kv_dim, const float* k, const float* v) = 0;
  // Causal scaled dot-product attention for every sequence in `seqs`:
  // out rows (n_heads * head_dim floats) for the q rows each names.
  virtual void attention(const float* q, const AttentionShape& shape, std::span<const AttentionSeq> seqs,
                         float* out) = 0;
  // gate[i] = silu(gate[i]) * up[i] for n floats (silu(x) = x / (1 + e^-x)).
  virtual void silu_mul(float* gate, const float* up, size_t n) = 0;
  // Softmax in place over each of n rows of width floats.
  virtual void softmax(float* x, int n, int width) = 0;
  // y[i] += x[i] for n floats.
  virtual void add(float* y, const float* x, size_t n) = 0;
};

struct CpuKernelOptions {
  int threads = 1;                  // worker threads including the caller; >= 1
  bool allow_avx2 = true;           // false: the plain code even where AVX2 exists
  bool allow_avx512 = true;         // false: no AVX-512 VNNI q8_0/q4_0 dot products (same results, slower)
  bool quantize_activations = true; // q8_0/q4_0 weights: quantise x to q8_0 (faster) or use f32 x
};

std::unique_ptr<Kernels> make_reference_kernels();
std::unique_ptr<Kernels> make_cpu_kernels(const CpuKernelOptions& options = {});
// Whether make_cpu_kernels would use AVX2/FMA/F16C on this machine.
bool cpu_has_avx2();

}  // namespace troupe::engine::local
