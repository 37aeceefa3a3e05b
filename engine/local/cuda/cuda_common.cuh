// Device helpers shared by the CUDA kernels: element conversions (exact
// f16/bf16 to float, round-to-nearest-even back), warp and block sums, and
// launch-size helpers. Included by the .cu files only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "engine/local/model.hpp"

// Every kernel launch of the backend: TROUPE_LAUNCH(grid, block, stream,
// kernel<...>)(args...) is kernel<...><<<grid, block, 0, stream>>>(args...)
// under nvcc. Built with TROUPE_CUDA_SIM (tests/cuda_sim, the CPU
// simulator, where .cu files compile as C++) it hands the kernel, its name
// and the launch shape to the simulator, which runs or records it.
#ifdef TROUPE_CUDA_SIM
#define TROUPE_LAUNCH(grid, block, stream, ...) \
  ::troupe::cuda_sim::launch(#__VA_ARGS__, (grid), (block), (stream), __VA_ARGS__)
#else
#define TROUPE_LAUNCH(grid, block, stream, ...) __VA_ARGS__<<<(grid), (block), 0, (stream)>>>
#endif

namespace troupe::engine::local::cuda {

__device__ __forceinline__ float f16_bits_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_bits_to_f32(uint16_t b) { return __uint_as_float(static_cast<uint32_t>(b) << 16); }
__device__ __forceinline__ uint16_t f32_to_f16_bits(float f) { return __half_as_ushort(__float2half_rn(f)); }
__device__ __forceinline__ uint16_t f32_to_bf16_bits(float f) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
}

// Element e of row r of a weight matrix of `in` columns, as float32: f32,
// f16, bf16, or q8_0/q4_0 in the split layout of cuda_plan.hpp (`scales`).
template <TensorType T>
__device__ __forceinline__ float weight_elem(const void* w, const uint16_t* scales, int64_t r, int64_t in, int64_t e) {
  if constexpr (T == TensorType::f32) {
    return static_cast<const float*>(w)[r * in + e];
  } else if constexpr (T == TensorType::f16) {
    return f16_bits_to_f32(static_cast<const uint16_t*>(w)[r * in + e]);
  } else if constexpr (T == TensorType::bf16) {
    return bf16_bits_to_f32(static_cast<const uint16_t*>(w)[r * in + e]);
  } else if constexpr (T == TensorType::q8_0) {
    const float d = f16_bits_to_f32(scales[r * (in / 32) + e / 32]);
    return static_cast<float>(static_cast<const int8_t*>(w)[r * in + e]) * d;
  } else {
    const int64_t b = e / 32, j = e % 32;
    const float d = f16_bits_to_f32(scales[r * (in / 32) + b]);
    const uint8_t byte = static_cast<const uint8_t*>(w)[r * (in / 2) + b * 16 + (j % 16)];
    const int nib = j < 16 ? (byte & 0x0f) : (byte >> 4);
    return static_cast<float>(nib - 8) * d;
  }
}

// The sum over the 32 lanes, in the same (butterfly) order on every lane.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// The sum (max) of v over the block, returned to every thread. blockDim.x
// is a multiple of 32, at most 1024; `scratch` holds 32 floats. Ends with
// a barrier, so `scratch` can be reused right after.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < warps ? scratch[lane] : 0.0f;
  t = warp_sum(t);
  __syncthreads();
  return t;
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < warps ? scratch[lane] : -INFINITY;
  t = warp_max(t);
  __syncthreads();
  return t;
}

// Blocks for a grid-stride loop over `n` items at `threads` per block,
// capped so the grid stays well inside launch limits.
inline unsigned grid_for(size_t n, unsigned threads, unsigned cap = 65536u) {
  const size_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks > cap ? cap : blocks);
}

}  // namespace troupe::engine::local::cuda
