// Row and element kernels of the CUDA backend: get_rows (the embedding
// lookup, every weight type), rmsnorm, rope (both pair orders), silu_mul,
// softmax, add, and the KV-cache kernels (write_kv for many calls in one
// launch, copy_blocks). Float32 arithmetic in the reference's formulas;
// reductions run in a fixed order per row (a row's result does not depend
// on the other rows).
#include "engine/local/cuda/cuda_common.cuh"
#include "engine/local/cuda/cuda_launch.hpp"

namespace troupe::engine::local::cuda {
namespace {

template <TensorType T>
__global__ void get_rows_kernel(const void* __restrict__ w, const uint16_t* __restrict__ scales, int64_t width,
                                const int32_t* __restrict__ ids, float* __restrict__ y) {
  const int64_t i = blockIdx.x;
  const int64_t r = ids[i];
  float* yr = y + i * width;
  for (int64_t e = threadIdx.x; e < width; e += blockDim.x) yr[e] = weight_elem<T>(w, scales, r, width, e);
}

// One block per row. y may equal x: each element is read and written by
// the same thread, after the reduction.
__global__ void rmsnorm_kernel(const float* x, const float* __restrict__ weight, int width, float eps, float* y) {
  __shared__ float scratch[32];
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * width;
  float* yr = y + static_cast<int64_t>(blockIdx.x) * width;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < width; c += blockDim.x) ss = fmaf(xr[c], xr[c], ss);
  ss = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(width) + eps);
  for (int c = threadIdx.x; c < width; c += blockDim.x) yr[c] = weight[c] * (inv * xr[c]);
}

__global__ void rope_kernel(float* __restrict__ x, int64_t total, int n_heads, int head_dim,
                            const int32_t* __restrict__ pos, const float* __restrict__ freqs, bool neox) {
  const int half = head_dim / 2;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(idx % half);
    const int64_t t = idx / half;  // row * n_heads + head
    const int64_t i = t / n_heads;
    float* v = x + t * head_dim;
    const float angle = static_cast<float>(pos[i]) * freqs[j];
    const float c = cosf(angle), s = sinf(angle);
    const int a = neox ? j : 2 * j;
    const int b = neox ? j + half : 2 * j + 1;
    const float v0 = v[a], v1 = v[b];
    v[a] = v0 * c - v1 * s;
    v[b] = v0 * s + v1 * c;
  }
}

__global__ void silu_mul_kernel(float* __restrict__ gate, const float* __restrict__ up, size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    gate[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void add_kernel(float* __restrict__ y, const float* __restrict__ x, size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    y[i] += x[i];
}

__global__ void softmax_kernel(float* __restrict__ x, int width) {
  __shared__ float scratch[32];
  float* xr = x + static_cast<int64_t>(blockIdx.x) * width;
  float m = -INFINITY;
  for (int c = threadIdx.x; c < width; c += blockDim.x) m = fmaxf(m, xr[c]);
  m = block_max(m, scratch);
  float sum = 0.0f;
  for (int c = threadIdx.x; c < width; c += blockDim.x) {
    const float e = expf(xr[c] - m);
    xr[c] = e;
    sum += e;
  }
  sum = block_sum(sum, scratch);
  for (int c = threadIdx.x; c < width; c += blockDim.x) xr[c] /= sum;
}

// blockIdx.y: which write_kv call; x: its n * kv_dim elements.
__global__ void write_kv_kernel(const KvWriteDesc* __restrict__ descs) {
  const KvWriteDesc d = descs[blockIdx.y];
  const int64_t total = static_cast<int64_t>(d.n) * d.kv_dim;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = idx / d.kv_dim, c = idx % d.kv_dim;
    const int64_t p = d.pos0 + i;
    const int64_t off = static_cast<int64_t>(d.table[p / d.block_size]) * d.block_stride +
                        (p % d.block_size) * d.row_stride + c;
    if (d.kv_type == kKvF16) {
      static_cast<uint16_t*>(d.k_dst)[off] = f32_to_f16_bits(d.k[idx]);
      static_cast<uint16_t*>(d.v_dst)[off] = f32_to_f16_bits(d.v[idx]);
    } else if (d.kv_type == kKvBf16) {
      static_cast<uint16_t*>(d.k_dst)[off] = f32_to_bf16_bits(d.k[idx]);
      static_cast<uint16_t*>(d.v_dst)[off] = f32_to_bf16_bits(d.v[idx]);
    } else {
      static_cast<float*>(d.k_dst)[off] = d.k[idx];
      static_cast<float*>(d.v_dst)[off] = d.v[idx];
    }
  }
}

// blockIdx.y strides over (buffer, copy) pairs; x over the block's floats.
__global__ void copy_blocks_kernel(float* const* __restrict__ buffers, const int32_t* __restrict__ copies,
                                   int64_t pairs, int n_copies, size_t block_floats) {
  for (int64_t p = blockIdx.y; p < pairs; p += gridDim.y) {
    float* base = buffers[p / n_copies];
    const int64_t c = p % n_copies;
    const float* src = base + static_cast<size_t>(copies[2 * c]) * block_floats;
    float* dst = base + static_cast<size_t>(copies[2 * c + 1]) * block_floats;
    for (size_t e = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < block_floats;
         e += static_cast<size_t>(gridDim.x) * blockDim.x)
      dst[e] = src[e];
  }
}

unsigned row_threads(int width) { return width >= 4096 ? 1024u : width >= 1024 ? 512u : 256u; }

}  // namespace

cudaError_t launch_get_rows(TensorType type, const void* w, const uint16_t* scales, int64_t width,
                            const int32_t* ids, int n, float* y, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const unsigned threads = 256;
  switch (type) {
    case TensorType::f32: TROUPE_LAUNCH(n, threads, stream, get_rows_kernel<TensorType::f32>)(w, scales, width, ids, y); break;
    case TensorType::f16: TROUPE_LAUNCH(n, threads, stream, get_rows_kernel<TensorType::f16>)(w, scales, width, ids, y); break;
    case TensorType::bf16: TROUPE_LAUNCH(n, threads, stream, get_rows_kernel<TensorType::bf16>)(w, scales, width, ids, y); break;
    case TensorType::q8_0: TROUPE_LAUNCH(n, threads, stream, get_rows_kernel<TensorType::q8_0>)(w, scales, width, ids, y); break;
    case TensorType::q4_0: TROUPE_LAUNCH(n, threads, stream, get_rows_kernel<TensorType::q4_0>)(w, scales, width, ids, y); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_rmsnorm(const float* x, const float* weight, int n, int width, float eps, float* y,
                           cudaStream_t stream) {
  if (n <= 0 || width <= 0) return cudaSuccess;
  TROUPE_LAUNCH(n, row_threads(width), stream, rmsnorm_kernel)(x, weight, width, eps, y);
  return cudaGetLastError();
}

cudaError_t launch_rope(float* x, int n, int n_heads, int head_dim, const int32_t* pos, const float* freqs, bool neox,
                        cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(n) * n_heads * (head_dim / 2);
  if (total <= 0) return cudaSuccess;
  TROUPE_LAUNCH(grid_for(static_cast<size_t>(total), 256), 256, stream, rope_kernel)(x, total, n_heads, head_dim, pos,
                                                                                     freqs, neox);
  return cudaGetLastError();
}

cudaError_t launch_silu_mul(float* gate, const float* up, size_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  TROUPE_LAUNCH(grid_for(n, 256), 256, stream, silu_mul_kernel)(gate, up, n);
  return cudaGetLastError();
}

cudaError_t launch_softmax(float* x, int n, int width, cudaStream_t stream) {
  if (n <= 0 || width <= 0) return cudaSuccess;
  TROUPE_LAUNCH(n, row_threads(width), stream, softmax_kernel)(x, width);
  return cudaGetLastError();
}

cudaError_t launch_add(float* y, const float* x, size_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  TROUPE_LAUNCH(grid_for(n, 256), 256, stream, add_kernel)(y, x, n);
  return cudaGetLastError();
}

cudaError_t launch_write_kv(const KvWriteDesc* descs, int count, int64_t max_elements, cudaStream_t stream) {
  if (count <= 0 || max_elements <= 0) return cudaSuccess;
  const unsigned bx = grid_for(static_cast<size_t>(max_elements), 256, 4096);
  for (int first = 0; first < count; first += 65535) {
    const unsigned by = static_cast<unsigned>(count - first < 65535 ? count - first : 65535);
    TROUPE_LAUNCH(dim3(bx, by), 256, stream, write_kv_kernel)(descs + first);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

cudaError_t launch_copy_blocks(float* const* buffers, int n_buffers, const int32_t* copies, int n_copies,
                               size_t block_floats, cudaStream_t stream) {
  const int64_t pairs = static_cast<int64_t>(n_buffers) * n_copies;
  if (pairs <= 0 || block_floats == 0) return cudaSuccess;
  const unsigned bx = grid_for(block_floats, 256, 1024);
  const unsigned by = static_cast<unsigned>(pairs < 65535 ? pairs : 65535);
  TROUPE_LAUNCH(dim3(bx, by), 256, stream, copy_blocks_kernel)(buffers, copies, pairs, n_copies, block_floats);
  return cudaGetLastError();
}

}  // namespace troupe::engine::local::cuda
