// The kernel launchers of the CUDA backend: what kernels_cuda.cpp (host
// code, g++) calls and the .cu files (nvcc) define. Each launcher enqueues
// its kernel(s) on `stream` and returns the launch's error
// (cudaGetLastError()); none synchronises. Pointers are device memory
// unless a comment says otherwise; shapes are checked by the caller (the
// launchers trust them, see kernels_cuda.cpp).
//
// The descriptor structs below are shared, byte for byte, by host and
// device code: plain integers and pointers, no padding surprises.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "engine/local/model.hpp"

namespace troupe::engine::local::cuda {

// ---- Matmul -------------------------------------------------------------------

// One output of a (possibly fused) GEMV: y[i][r] = dot(W row r, x row i) (+ bias[r]).
struct GemvOut {
  const void* w = nullptr;         // f32/f16/bf16 rows, or q8_0/q4_0 quants (cuda_plan.hpp layout)
  const uint16_t* scales = nullptr;  // q8_0/q4_0: f16 scales
  const float* bias = nullptr;     // or null
  float* y = nullptr;              // n rows of `out` floats
  int64_t out = 0;
};
inline constexpr int kGemvMaxOuts = 4;
struct GemvBatch {
  GemvOut outs[kGemvMaxOuts];
  int64_t begin[kGemvMaxOuts + 1] = {};  // prefix sums of outs[i].out: the fused row range of each
  int count = 0;
  int pad = 0;  // no padding bytes: the struct's bytes are a graph key (kernels_cuda.cpp)
};
// All outputs share `type` and `in`. x: n rows of `in` floats. n >= 1.
cudaError_t launch_gemv(const GemvBatch& batch, TensorType type, const float* x, int n, int64_t in,
                        cudaStream_t stream);
// Rows [row0, row0 + rows) of a q8_0/q4_0 matrix (cuda_plan.hpp layout) to
// f16 rows of `in` values at `dst` (rows * in halves).
cudaError_t launch_dequant_f16(TensorType type, const void* quants, const uint16_t* scales, int64_t in,
                               int64_t row0, int64_t rows, uint16_t* dst, cudaStream_t stream);
// n floats to f16 (to_bf16 false) or bf16, round to nearest even.
cudaError_t launch_convert_f32(const float* x, size_t n, bool to_bf16, uint16_t* dst, cudaStream_t stream);
// y[i][r] += bias[r] for n rows of `out` floats.
cudaError_t launch_bias_add(float* y, const float* bias, int n, int64_t out, cudaStream_t stream);

// ---- Row ops --------------------------------------------------------------------

// y[i] = row ids[i] of a {width, rows} matrix as float32 (ids in range: checked by the caller).
cudaError_t launch_get_rows(TensorType type, const void* w, const uint16_t* scales, int64_t width,
                            const int32_t* ids, int n, float* y, cudaStream_t stream);
cudaError_t launch_rmsnorm(const float* x, const float* weight, int n, int width, float eps, float* y,
                           cudaStream_t stream);
// freqs: head_dim / 2 floats, theta^(-2j/head_dim) as the reference computes them.
cudaError_t launch_rope(float* x, int n, int n_heads, int head_dim, const int32_t* pos, const float* freqs,
                        bool neox, cudaStream_t stream);
cudaError_t launch_silu_mul(float* gate, const float* up, size_t n, cudaStream_t stream);
cudaError_t launch_softmax(float* x, int n, int width, cudaStream_t stream);
cudaError_t launch_add(float* y, const float* x, size_t n, cudaStream_t stream);

// ---- KV cache ---------------------------------------------------------------------

// The element type of cached keys and values, as the kernels see it.
inline constexpr int32_t kKvF32 = 0, kKvF16 = 1, kKvBf16 = 2;

// One write_kv call: rows [0, n) of k and v (kv_dim floats each) to positions
// pos0.. of a paged cache.
struct KvWriteDesc {
  const float* k = nullptr;
  const float* v = nullptr;
  void* k_dst = nullptr;  // the layer's K base (physical block 0)
  void* v_dst = nullptr;
  const int32_t* table = nullptr;  // device copy of the block table
  int64_t block_stride = 0;        // elements
  int64_t row_stride = 0;
  int32_t block_size = 0;
  int32_t pos0 = 0;
  int32_t n = 0;
  int32_t kv_dim = 0;
  int32_t kv_type = 0;  // kKvF32, kKvF16 or kKvBf16 (halves rounded to nearest even)
  int32_t pad = 0;
};
// Every descriptor of `descs` (device array of `count`) in one launch;
// max_elements = the largest n * kv_dim among them.
cudaError_t launch_write_kv(const KvWriteDesc* descs, int count, int64_t max_elements, cudaStream_t stream);
// For every buffer b (device array of n_buffers pointers) and copy c (device
// array of n_copies {from, to} int32 pairs): block_floats floats from block
// `from` to block `to`.
cudaError_t launch_copy_blocks(float* const* buffers, int n_buffers, const int32_t* copies, int n_copies,
                               size_t block_floats, cudaStream_t stream);

// ---- Attention ------------------------------------------------------------------

// A sequence of one attention call. k/v are found at the launch's k_base /
// v_base plus these byte offsets, so that a call's descriptors are the same
// for every layer of a step (and uploaded once).
struct AttnSeqDesc {
  int64_t k_off = 0;  // bytes from AttnParams::k_base
  int64_t v_off = 0;
  const int32_t* table = nullptr;
  int64_t block_stride = 0;  // elements of the KV type
  int64_t row_stride = 0;
  int32_t block_size = 0;
  int32_t n_blocks = 0;
};
// A query row: q row `q_row` attends to keys [0, n_keys) of sequence `seq`.
struct AttnRowDesc {
  int32_t q_row = 0;
  int32_t n_keys = 0;
  int32_t seq = 0;
  int32_t pad = 0;
};
struct AttnParams {
  const float* q = nullptr;  // rows of n_heads * head_dim
  float* out = nullptr;
  float* partial = nullptr;  // splits > 1: rows * n_heads * splits * (head_dim + 2) floats
  const char* k_base = nullptr;
  const char* v_base = nullptr;
  const AttnSeqDesc* seqs = nullptr;
  const AttnRowDesc* rows = nullptr;
  int total_rows = 0;
  int n_heads = 0;
  int head_dim = 0;
  int group = 0;
  int heads_per_block = 0;
  int head_groups = 0;
  int splits = 1;
  int keys_per_split = 0;
  int grid_y = 0;
  int elems_per_lane = 0;
  int kv_type = 0;  // kKvF32, kKvF16 or kKvBf16
  float scale = 0.0f;
};
// Its bytes are a graph key (kernels_cuda.cpp): no padding.
static_assert(sizeof(AttnParams) == 7 * sizeof(void*) + 12 * sizeof(int), "AttnParams has padding");
cudaError_t launch_attention(const AttnParams& p, cudaStream_t stream);

}  // namespace troupe::engine::local::cuda
