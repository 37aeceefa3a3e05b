// The compute kernels of the forward pass, behind one small interface, so
// that the model, the KV cache and the scheduler never depend on how the
// arithmetic is done or where the memory is. Implementations:
//   make_reference_kernels()  plain loops, single thread: the reference every
//                             other backend is tested against, op by op;
//   make_cpu_kernels(opts)    the optimised CPU path: a thread pool, AVX2/FMA
//                             (selected at run time; plain code otherwise),
//                             F16C for f16 weights, integer dot products for
//                             q8_0/q4_0 weights (AVX-512 VNNI where the CPU
//                             has it, with the same results as AVX2);
//   make_cuda_kernels(opts)   engine/local/cuda/: an NVIDIA GPU (built when
//                             nvcc is found; see cuda/kernels_cuda.hpp).
//
// What callers may rely on:
// - Activations are float32 row batches: `n` rows of `width` contiguous
//   floats, rows back to back. Every float pointer an op takes must come from
//   this backend's alloc() (host memory for the CPU backends, device memory
//   for a GPU backend). Integer arrays (token ids, positions, block tables)
//   and the op parameters are host memory.
// - Weights: upload_weights(model) is called once per model before any op
//   reads its tensors; from then on ops take the model's TensorViews (host
//   views) and a device backend finds its own copy by the view's data
//   pointer. The CPU backends read the host views directly.
// - Per-step metadata: begin_step() names the integer arrays one forward
//   pass's ops will take (ids, positions, block tables). A device backend
//   uploads them there, once per pass, and an op given one of those host
//   arrays reads the uploaded copy; an array not named is uploaded by the
//   op that takes it. The arrays must stay unchanged until the next
//   begin_step (or the backend's destruction).
// - Ordering: ops run in the order they are issued. A device backend may
//   return before an op has finished (one stream); to_host() and
//   synchronize() wait for everything issued before them. The CPU backends
//   are synchronous. One Kernels object runs one op at a time (it is not
//   re-entrant; the CPU backend parallelises inside each op).
// - Row results do not depend on the batch: the output row for an input row
//   is bit-identical whatever the other rows in the call and whatever the
//   thread count. (Batch invariance of whole forward passes rests on this.)
//   A device backend states its own tolerance (cuda/kernels_cuda.hpp).
// - Weight element types: f32, f16, bf16, q8_0, q4_0 for matmul and
//   get_rows; quantised matrices need `in` to be a multiple of 32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "engine/local/model.hpp"

namespace troupe::engine::local {

// The element type of cached keys and values: float32 (the default; the
// forward pass is then exactly as before), IEEE half (f16) or bfloat16
// (bf16: the top 16 bits of a float32), each of which halves the cache's
// bytes per token at a small rounding cost: keys and values are rounded to
// nearest, ties to even, when written (NaN stays NaN; quant.hpp's
// f32_to_f16 / f32_to_bf16), and attention computes in float32. f16 keeps
// 11 significant bits within +-65504; bf16 keeps 8 over float32's range.
enum class KvType { f32, f16, bf16 };

inline const char* to_string(KvType t) {
  switch (t) {
    case KvType::f16: return "f16";
    case KvType::bf16: return "bf16";
    case KvType::f32: break;
  }
  return "f32";
}

// The one parser of a KV type named in text (`--kv-type` on generate, serve
// and bench; `kv_type:` in workflow backends and the daemon config):
// exactly "f32", "f16" or "bf16"; anything else is an invalid_argument
// error quoting the text and listing the choices. Inline (header-only) so
// that a loader can check a name without linking the engine.
inline Result<KvType> parse_kv_type(std::string_view text) {
  for (KvType t : {KvType::f32, KvType::f16, KvType::bf16})
    if (text == to_string(t)) return t;
  return Error{ErrorCode::invalid_argument, "KV type '" + std::string(text) + "': expected f32, f16 or bf16"};
}

// Bytes of one cached element of type t (4, or 2 for f16 and bf16).
inline size_t kv_element_bytes(KvType t) { return t == KvType::f32 ? 4 : 2; }

// One sequence's keys and values of one layer, wherever they live. Rows
// (one per token position, `kv_dim` = n_kv_heads * head_dim elements each)
// sit in fixed-size physical blocks of `block_size` rows; the block table
// maps a sequence's logical block (position / block_size) to a physical
// block index. Position p is at
//   k + block_table[p / block_size] * block_stride + (p % block_size) * row_stride
// and likewise for v, counted in elements of `type`: for the 2-byte types
// (f16, bf16) the storage at k and v holds uint16_t elements (k_row_16()),
// for f32 floats (k_row()). A contiguous cache is the special case of one block
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
  // type == f16 or bf16: the row's 16-bit elements (halves or bfloat16s)
  uint16_t* k_row_16(int pos) const { return reinterpret_cast<uint16_t*>(k) + offset(pos); }
  uint16_t* v_row_16(int pos) const { return reinterpret_cast<uint16_t*>(v) + offset(pos); }
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
  // goes. Host memory for the CPU backends. Null when the backend has no
  // room (a device out of memory); host allocation failure throws
  // std::bad_alloc as new does.
  virtual std::shared_ptr<float[]> alloc(size_t n);
  // Like alloc() but the contents are unspecified (a KV pool: its pages are
  // touched only when rows are written).
  virtual std::shared_ptr<float[]> alloc_uninitialized(size_t n);
  // Copies n floats from backend memory to host memory (memcpy on the CPU).
  // Waits for every op issued before it.
  virtual void to_host(const float* src, float* host_dst, size_t n);
  // Copies n floats from host memory into backend memory.
  virtual void from_host(const float* host_src, float* dst, size_t n);
  // Waits for every op issued so far (nothing to wait for on the CPU).
  virtual void synchronize() {}
  // The first error an op or copy met since the last call (a device fault,
  // a failed launch or upload), then cleared; ok on the CPU backends, whose
  // ops cannot fail. Ops return nothing, so callers ask here after
  // to_host() (Transformer::forward does, and returns the error).
  virtual Status take_error() { return {}; }

  // Makes the model's matrices readable by this backend's ops (see the
  // header comment). An error (a device without room for them) names the
  // tensor. The ModelWeights' storage must outlive the backend's use of it.
  virtual Status upload_weights(const ModelWeights& weights);

  // The integer arrays one forward pass's ops take (see the header comment).
  struct StepArrays {
    std::span<const int32_t> ids;        // token ids (get_rows)
    std::span<const int32_t> positions;  // one per row (rope)
    std::vector<std::span<const int32_t>> block_tables;  // per sequence (write_kv, attention)
  };
  virtual void begin_step(const StepArrays& arrays);

  // The rows a decode step of `sequences` sequences (one new token each,
  // its logits wanted) should run with: `sequences` on the CPU backends; a
  // backend that replays fixed launch shapes (CUDA graphs) rounds up to its
  // bucket. A caller that pads does so after the real rows: padding rows
  // repeat row 0's token id and position, pass through every row op
  // (get_rows, rmsnorm, matmul, rope, silu_mul, add, and the final norm and
  // output projection), take no part in write_kv or attention (whose
  // sequences are the real ones), and their results are ignored. Every row
  // op computes each row independently of the others, so the real rows'
  // results are those of an unpadded step within the backend's tolerance.
  virtual int decode_rows(int sequences) const { return sequences; }

  // Copies whole KV blocks: for every buffer in `buffers` (each layer's K
  // and V storage, from alloc), the `block_floats` floats of block `from`
  // to block `to`, for each pair of `copies` (one launch on a device).
  struct BlockCopy {
    int32_t from = 0;
    int32_t to = 0;
  };
  virtual void copy_blocks(std::span<float* const> buffers, size_t block_floats, std::span<const BlockCopy> copies);

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
  // pos0 .. pos0+n-1 of one sequence into its cache (rounded to nearest,
  // ties to even, when kv.type is f16 or bf16: f32_to_f16 / f32_to_bf16).
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
