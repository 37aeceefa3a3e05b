// The host-side decisions of the CUDA backend that need no GPU, kept apart
// from the CUDA code so that they are unit-tested on any machine
// (tests/local_cuda/test_cuda_host.cpp):
// - how a step's integer arrays are packed into one upload (begin_step);
// - which matmul path a weight type and row count take (warp-per-row GEMV
//   or a cuBLAS GEMM), and how the GEMV groups x rows;
// - the launch shape of paged attention (query heads per block, key splits);
// - the device layout of q8_0/q4_0 matrices (quants and scales apart).
//
// Everything here is a pure function of its arguments: no CUDA calls, no
// allocation beyond the returned values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/local/kernels.hpp"
#include "engine/local/model.hpp"

namespace troupe::engine::local::cuda_plan {

// ---- Step arrays ----------------------------------------------------------

// The integer arrays of one begin_step, back to back in `data` (int32
// elements), each named by its host pointer. A host pointer named twice
// (the same array passed as two spans) appears once, with the larger count.
// Empty spans are left out.
struct PackedStepArrays {
  struct Entry {
    const int32_t* host = nullptr;
    size_t offset = 0;  // in int32 elements from the start of `data`
    size_t count = 0;
  };
  std::vector<int32_t> data;
  std::vector<Entry> entries;
};
PackedStepArrays pack_step_arrays(const Kernels::StepArrays& arrays);

// ---- Matmul ---------------------------------------------------------------

enum class MatmulPath {
  gemv,  // a warp per output row, every x row of the call read per weight load (decode)
  gemm,  // cuBLAS with float32 compute (x converted to the weight type; q8_0/q4_0 dequantised to f16 by tiles)
};
// Float weights take the GEMV up to this many x rows, quantised weights up
// to kGemvMaxRowsQuant (dequantising a whole matrix costs ~5 bytes moved
// per weight, so the GEMV, which re-reads each weight row from cache once
// per group of 8 x rows, wins for longer).
inline constexpr int kGemvMaxRowsFloat = 8;
inline constexpr int kGemvMaxRowsQuant = 32;
MatmulPath choose_matmul_path(TensorType type, int n_rows);
// The GEMV handles x rows in groups of this many (1, 2, 4 or 8: the
// smallest power of two >= n, at most 8). Each row's result does not depend
// on the group size.
int gemv_row_group(int n_rows);
// Rows of a quantised matrix dequantised per cuBLAS call: at most
// `max_elements` elements (>= 1 row).
int64_t dequant_tile_rows(int64_t in, int64_t out, int64_t max_elements);

// ---- Attention --------------------------------------------------------------

inline constexpr int kAttentionMaxHeadDim = 256;
inline constexpr int kAttentionHeadsPerBlock = 4;  // query heads sharing one KV head, per block
inline constexpr int kAttentionMaxSplits = 1024;
inline constexpr int kAttentionMinKeysPerSplit = 64;

// One launch of the paged attention kernel: grid (rows, n_kv_heads *
// head_groups, splits), 128 threads. Block (r, y, s) computes query heads
// [kv * group + hg * heads_per_block, + heads_per_block) of query row r
// (kv = y / head_groups, hg = y % head_groups) over keys
// [s * keys_per_split, (s + 1) * keys_per_split) of that row's causal range;
// with splits > 1 a second kernel combines the partial softmax states.
struct AttentionPlan {
  int group = 0;            // n_heads / n_kv_heads
  int heads_per_block = 0;  // <= kAttentionHeadsPerBlock
  int head_groups = 0;      // ceil(group / heads_per_block)
  int grid_y = 0;           // n_kv_heads * head_groups
  int splits = 1;
  int keys_per_split = 0;
  int elems_per_lane = 0;   // 2, 4 or 8: head_dim <= 64, 128, 256
};
// `total_rows` query rows whose longest causal range is `max_keys` keys, on
// a device of `sm_count` multiprocessors. An error (unsupported or
// invalid_argument) for a shape the kernel cannot run.
Result<AttentionPlan> plan_attention(int total_rows, int n_heads, int n_kv_heads, int head_dim, int max_keys,
                                     int sm_count);

// Attention is planned for the longest context rounded up to a multiple of
// this many keys (and at least one bucket), so that a decode step's launch
// arguments, and hence its CUDA graph, stay the same while its contexts
// grow inside the bucket. Rows shorter than the plan leave trailing splits
// empty, which the combine kernel skips.
inline constexpr int kAttentionKeyBucket = 256;
int attention_key_bucket(int max_keys);

// ---- CUDA graphs --------------------------------------------------------------

// Decode steps of up to this many sequences are recorded for graphs
// (kernels_cuda.hpp); the cache keeps this many graphs, least recently used
// out first.
inline constexpr int kGraphMaxRows = 256;
inline constexpr int kGraphCacheSize = 64;
// The rows a decode step of `sequences` sequences runs with
// (Kernels::decode_rows): the smallest of 1, 2, 4, 8, 16, 24, 32, 48, 64,
// 96, 128, 192, 256 that holds them (at most half the rows are padding
// from 16 on), or `sequences` itself above 256. Every batch size of a
// bucket then makes the same launches, so one graph serves them all.
int decode_row_bucket(int sequences);

// ---- Quantised weights on the device ----------------------------------------

// q8_0 and q4_0 matrices are stored on the device as two arrays, so that a
// warp reads each row's quants with aligned 16-byte loads (ggml's 34- and
// 18-byte blocks are not 4-byte aligned):
//   quants: q8_0: rows * in int8 (block b's 32 values at b * 32);
//           q4_0: rows * in / 2 bytes (block b's 16 bytes at b * 16, ggml's
//           nibble order: byte j = value j low, value j + 16 high);
//   scales: rows * in / 32 f16 scales, block order.
// `n_blocks` ggml blocks from `blocks` (unaligned is fine) into the two arrays.
void split_q8_0(const void* blocks, int64_t n_blocks, int8_t* quants, uint16_t* scales);
void split_q4_0(const void* blocks, int64_t n_blocks, uint8_t* quants, uint16_t* scales);
// Bytes of the quants array of a q8_0/q4_0 matrix of `elements` values.
size_t quant_bytes(TensorType type, int64_t elements);

}  // namespace troupe::engine::local::cuda_plan
