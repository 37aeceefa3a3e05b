// Matmul kernels of the CUDA backend (the cuBLAS calls are in
// kernels_cuda.cpp):
// - gemv_kernel: y = x · Wᵀ for few x rows (decode). One warp per output
//   row reads the weight row once with 16-byte loads (f32, f16, bf16, and
//   q8_0/q4_0 in the split layout of cuda_plan.hpp), converts to float32
//   and accumulates every x row of a group of R against it; float32
//   accumulation, one butterfly warp sum per row. Up to kGemvMaxOuts
//   matrices of the same type and width run as one launch (q/k/v,
//   gate/up). A row's result does not depend on n or R.
// - dequant_f16_kernel: q8_0/q4_0 rows to f16, for cuBLAS (prefill).
// - convert and bias kernels around the cuBLAS GEMM.
#include "engine/local/cuda/cuda_common.cuh"
#include "engine/local/cuda/cuda_launch.hpp"

namespace troupe::engine::local::cuda {
namespace {

constexpr int kGemvWarps = 4;

// Eight halves packed in a uint4 to floats.
template <bool BF16>
__device__ __forceinline__ void unpack8(const uint4& u, float (&w)[8]) {
  const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const uint16_t lo = static_cast<uint16_t>(words[k] & 0xffffu), hi = static_cast<uint16_t>(words[k] >> 16);
    w[2 * k] = BF16 ? bf16_bits_to_f32(lo) : f16_bits_to_f32(lo);
    w[2 * k + 1] = BF16 ? bf16_bits_to_f32(hi) : f16_bits_to_f32(hi);
  }
}

__device__ __forceinline__ float dot4(const float4& a, const float4& b, float s) {
  s = fmaf(a.x, b.x, s);
  s = fmaf(a.y, b.y, s);
  s = fmaf(a.z, b.z, s);
  return fmaf(a.w, b.w, s);
}

// Adds dot(W row r, x row i) to acc[i] for i < rows: this lane's share.
// VEC: 16-byte loads (the caller checked alignment and the width).
template <TensorType T, int R, bool VEC>
__device__ __forceinline__ void row_dot(const GemvOut& o, int64_t r, const float* __restrict__ x, int64_t in,
                                        int rows, float (&acc)[R], int lane) {
  if constexpr (!VEC) {
    for (int64_t e = lane; e < in; e += 32) {
      const float w = weight_elem<T>(o.w, o.scales, r, in, e);
#pragma unroll
      for (int i = 0; i < R; ++i)
        if (i < rows) acc[i] = fmaf(w, x[i * in + e], acc[i]);
    }
  } else if constexpr (T == TensorType::f32) {
    const float4* wr = reinterpret_cast<const float4*>(static_cast<const float*>(o.w) + r * in);
    const int64_t nc = in / 4;
#pragma unroll 4
    for (int64_t c = lane; c < nc; c += 32) {
      const float4 wv = __ldg(wr + c);
#pragma unroll
      for (int i = 0; i < R; ++i)
        if (i < rows) acc[i] += dot4(wv, __ldg(reinterpret_cast<const float4*>(x + i * in) + c), 0.0f);
    }
  } else if constexpr (T == TensorType::f16 || T == TensorType::bf16) {
    const uint4* wr = reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(o.w) + r * in);
    const int64_t nc = in / 8;
#pragma unroll 2
    for (int64_t c = lane; c < nc; c += 32) {
      float w[8];
      unpack8<T == TensorType::bf16>(__ldg(wr + c), w);
      const float4 w0 = make_float4(w[0], w[1], w[2], w[3]), w1 = make_float4(w[4], w[5], w[6], w[7]);
#pragma unroll
      for (int i = 0; i < R; ++i) {
        if (i < rows) {
          const float4* xr = reinterpret_cast<const float4*>(x + i * in) + 2 * c;
          acc[i] += dot4(w1, __ldg(xr + 1), dot4(w0, __ldg(xr), 0.0f));
        }
      }
    }
  } else if constexpr (T == TensorType::q8_0) {
    // 16 quants (half a block) per lane and step.
    const uint4* wr = reinterpret_cast<const uint4*>(static_cast<const int8_t*>(o.w) + r * in);
    const uint16_t* sr = o.scales + r * (in / 32);
    const int64_t nc = in / 16;
#pragma unroll 2
    for (int64_t c = lane; c < nc; c += 32) {
      const uint4 u = __ldg(wr + c);
      const float d = f16_bits_to_f32(__ldg(sr + c / 2));
      const uint32_t words[4] = {u.x, u.y, u.z, u.w};
      float4 w[4];
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        w[k] = make_float4(static_cast<float>(static_cast<int8_t>(words[k] & 0xffu)),
                           static_cast<float>(static_cast<int8_t>((words[k] >> 8) & 0xffu)),
                           static_cast<float>(static_cast<int8_t>((words[k] >> 16) & 0xffu)),
                           static_cast<float>(static_cast<int8_t>(words[k] >> 24)));
      }
#pragma unroll
      for (int i = 0; i < R; ++i) {
        if (i < rows) {
          const float4* xr = reinterpret_cast<const float4*>(x + i * in) + 4 * c;
          float s = 0.0f;
#pragma unroll
          for (int k = 0; k < 4; ++k) s = dot4(w[k], __ldg(xr + k), s);
          acc[i] = fmaf(s, d, acc[i]);
        }
      }
    }
  } else {
    // q4_0: one block (16 bytes, 32 values) per lane and step.
    const uint4* wr = reinterpret_cast<const uint4*>(static_cast<const uint8_t*>(o.w) + r * (in / 2));
    const uint16_t* sr = o.scales + r * (in / 32);
    const int64_t nc = in / 32;
    for (int64_t c = lane; c < nc; c += 32) {
      const uint4 u = __ldg(wr + c);
      const float d = f16_bits_to_f32(__ldg(sr + c));
      const uint32_t words[4] = {u.x, u.y, u.z, u.w};
      float4 lo[4], hi[4];  // values 0..15 and 16..31 of the block
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const uint32_t v = words[k];
        lo[k] = make_float4(static_cast<float>(static_cast<int>(v & 0xfu) - 8),
                            static_cast<float>(static_cast<int>((v >> 8) & 0xfu) - 8),
                            static_cast<float>(static_cast<int>((v >> 16) & 0xfu) - 8),
                            static_cast<float>(static_cast<int>((v >> 24) & 0xfu) - 8));
        hi[k] = make_float4(static_cast<float>(static_cast<int>((v >> 4) & 0xfu) - 8),
                            static_cast<float>(static_cast<int>((v >> 12) & 0xfu) - 8),
                            static_cast<float>(static_cast<int>((v >> 20) & 0xfu) - 8),
                            static_cast<float>(static_cast<int>((v >> 28) & 0xfu) - 8));
      }
#pragma unroll
      for (int i = 0; i < R; ++i) {
        if (i < rows) {
          const float4* xr = reinterpret_cast<const float4*>(x + i * in + c * 32);
          float s = 0.0f;
#pragma unroll
          for (int k = 0; k < 4; ++k) s = dot4(lo[k], __ldg(xr + k), s);
#pragma unroll
          for (int k = 0; k < 4; ++k) s = dot4(hi[k], __ldg(xr + 4 + k), s);
          acc[i] = fmaf(s, d, acc[i]);
        }
      }
    }
  }
}

template <TensorType T, int R, bool VEC>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_kernel(const GemvBatch b, const float* __restrict__ x, int n, int64_t in) {
  const int lane = threadIdx.x % 32;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * kGemvWarps + threadIdx.x / 32;
  if (g >= b.begin[b.count]) return;
  // The output this fused row belongs to (static indices: no local copy of b).
  GemvOut o = b.outs[0];
  int64_t base = 0;
#pragma unroll
  for (int k = 1; k < kGemvMaxOuts; ++k) {
    if (k < b.count && g >= b.begin[k]) {
      o = b.outs[k];
      base = b.begin[k];
    }
  }
  const int64_t r = g - base;
  for (int i0 = 0; i0 < n; i0 += R) {
    const int rows = min(R, n - i0);
    float acc[R];
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i] = 0.0f;
    row_dot<T, R, VEC>(o, r, x + static_cast<int64_t>(i0) * in, in, rows, acc, lane);
#pragma unroll
    for (int i = 0; i < R; ++i) {
      if (i < rows) {
        float s = warp_sum(acc[i]);
        if (o.bias) s += o.bias[r];
        if (lane == 0) o.y[static_cast<int64_t>(i0 + i) * o.out + r] = s;
      }
    }
  }
}

template <TensorType T, int R>
cudaError_t gemv_launch_r(const GemvBatch& b, bool vec, const float* x, int n, int64_t in, cudaStream_t stream) {
  const int64_t total = b.begin[b.count];
  const unsigned blocks = static_cast<unsigned>((total + kGemvWarps - 1) / kGemvWarps);
  if (vec)
    TROUPE_LAUNCH(blocks, kGemvWarps * 32, stream, gemv_kernel<T, R, true>)(b, x, n, in);
  else
    TROUPE_LAUNCH(blocks, kGemvWarps * 32, stream, gemv_kernel<T, R, false>)(b, x, n, in);
  return cudaGetLastError();
}

template <TensorType T>
cudaError_t gemv_launch_t(const GemvBatch& b, bool vec, const float* x, int n, int64_t in, cudaStream_t stream) {
  if (n <= 1) return gemv_launch_r<T, 1>(b, vec, x, n, in, stream);
  if (n <= 2) return gemv_launch_r<T, 2>(b, vec, x, n, in, stream);
  if (n <= 4) return gemv_launch_r<T, 4>(b, vec, x, n, in, stream);
  return gemv_launch_r<T, 8>(b, vec, x, n, in, stream);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <TensorType T>
__global__ void dequant_f16_kernel(const void* __restrict__ quants, const uint16_t* __restrict__ scales, int64_t in,
                                   int64_t row0, int64_t rows, uint16_t* __restrict__ dst) {
  const int64_t per_row = in / 8;  // 8 values per thread and step
  const int64_t total = rows * per_row;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = t / per_row, c8 = t % per_row, r = row0 + row;
    const float d = f16_bits_to_f32(scales[r * (in / 32) + c8 / 4]);
    uint32_t out[4];
    if constexpr (T == TensorType::q8_0) {
      const uint2 q = *reinterpret_cast<const uint2*>(static_cast<const int8_t*>(quants) + r * in + c8 * 8);
      const uint32_t words[2] = {q.x, q.y};
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const uint32_t w = words[k / 2];
        const int s = (k % 2) * 16;
        const float a = static_cast<float>(static_cast<int8_t>((w >> s) & 0xffu)) * d;
        const float b = static_cast<float>(static_cast<int8_t>((w >> (s + 8)) & 0xffu)) * d;
        out[k] = static_cast<uint32_t>(f32_to_f16_bits(a)) | (static_cast<uint32_t>(f32_to_f16_bits(b)) << 16);
      }
    } else {
      const int64_t e = c8 * 8, blk = e / 32, j = e % 32;  // j in {0, 8, 16, 24}
      const uint8_t* p = static_cast<const uint8_t*>(quants) + r * (in / 2) + blk * 16 + (j % 16);
      const uint2 q = *reinterpret_cast<const uint2*>(p);
      const int shift = j >= 16 ? 4 : 0;
      const uint32_t words[2] = {q.x, q.y};
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const uint32_t w = words[k / 2];
        const int s = (k % 2) * 16;
        const int na = static_cast<int>(((w >> s) >> shift) & 0xfu) - 8;
        const int nb = static_cast<int>(((w >> (s + 8)) >> shift) & 0xfu) - 8;
        out[k] = static_cast<uint32_t>(f32_to_f16_bits(static_cast<float>(na) * d)) |
                 (static_cast<uint32_t>(f32_to_f16_bits(static_cast<float>(nb) * d)) << 16);
      }
    }
    *reinterpret_cast<uint4*>(dst + row * in + c8 * 8) = make_uint4(out[0], out[1], out[2], out[3]);
  }
}

__global__ void convert_f32_kernel(const float* __restrict__ x, size_t n, bool to_bf16, uint16_t* __restrict__ dst) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    dst[i] = to_bf16 ? f32_to_bf16_bits(x[i]) : f32_to_f16_bits(x[i]);
}

__global__ void bias_add_kernel(float* __restrict__ y, const float* __restrict__ bias, size_t total, int64_t out) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    y[i] += bias[static_cast<int64_t>(i % static_cast<size_t>(out))];
}

}  // namespace

cudaError_t launch_gemv(const GemvBatch& b, TensorType type, const float* x, int n, int64_t in,
                        cudaStream_t stream) {
  if (b.count < 1 || b.count > kGemvMaxOuts || n < 1 || b.begin[b.count] <= 0) return cudaErrorInvalidValue;
  // 16-byte loads need aligned rows of x and W: widths in whole vectors.
  bool vec = aligned16(x) && in % 4 == 0;
  for (int k = 0; k < b.count; ++k) vec = vec && aligned16(b.outs[k].w);
  switch (type) {
    case TensorType::f32: return gemv_launch_t<TensorType::f32>(b, vec, x, n, in, stream);
    case TensorType::f16: return gemv_launch_t<TensorType::f16>(b, vec && in % 8 == 0, x, n, in, stream);
    case TensorType::bf16: return gemv_launch_t<TensorType::bf16>(b, vec && in % 8 == 0, x, n, in, stream);
    case TensorType::q8_0: return gemv_launch_t<TensorType::q8_0>(b, vec, x, n, in, stream);
    case TensorType::q4_0: return gemv_launch_t<TensorType::q4_0>(b, vec, x, n, in, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_dequant_f16(TensorType type, const void* quants, const uint16_t* scales, int64_t in,
                               int64_t row0, int64_t rows, uint16_t* dst, cudaStream_t stream) {
  if (in % 32 != 0 || rows <= 0) return cudaErrorInvalidValue;
  const unsigned blocks = grid_for(static_cast<size_t>(rows * (in / 8)), 256, 1u << 18);
  if (type == TensorType::q8_0)
    TROUPE_LAUNCH(blocks, 256, stream, dequant_f16_kernel<TensorType::q8_0>)(quants, scales, in, row0, rows, dst);
  else if (type == TensorType::q4_0)
    TROUPE_LAUNCH(blocks, 256, stream, dequant_f16_kernel<TensorType::q4_0>)(quants, scales, in, row0, rows, dst);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_convert_f32(const float* x, size_t n, bool to_bf16, uint16_t* dst, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  TROUPE_LAUNCH(grid_for(n, 256, 1u << 16), 256, stream, convert_f32_kernel)(x, n, to_bf16, dst);
  return cudaGetLastError();
}

cudaError_t launch_bias_add(float* y, const float* bias, int n, int64_t out, cudaStream_t stream) {
  const size_t total = static_cast<size_t>(n) * static_cast<size_t>(out);
  if (total == 0) return cudaSuccess;
  TROUPE_LAUNCH(grid_for(total, 256, 1u << 16), 256, stream, bias_add_kernel)(y, bias, total, out);
  return cudaGetLastError();
}

}  // namespace troupe::engine::local::cuda
