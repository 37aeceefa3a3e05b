// troupe's CUDA simulator (tests/cuda_sim): CUDA C++ device code compiled
// as plain C++ and run on the CPU. Includes cuda_runtime_api.h.
//
// What callers (the kernels of engine/local/cuda/ops_*.cu) may rely on:
// - __global__/__device__/__host__/__forceinline__/__launch_bounds__ are
//   accepted and mean nothing more than C++ `inline` where needed.
// - A launch runs each block after the other; each thread of a block is a
//   fiber on the launching host thread, switched only at __syncthreads()
//   and warp intrinsics. threadIdx/blockIdx/blockDim/gridDim are those of
//   the running simulated thread. __shared__ variables are function-local
//   `static thread_local`: one copy shared by the block's threads (not
//   cleared between blocks; do not rely on their contents at block start).
// - __syncthreads() waits for every thread of the block that has not
//   returned. Warp intrinsics (__shfl*_sync, __syncwarp) wait for every lane
//   named in the mask and exchange values; a mask naming a lane that has
//   exited or lies past blockDim, a source lane outside the mask, or a
//   state where no waiting thread can proceed is a kernel fault: the
//   launch stops, the kernel's name and the reason go to stderr, and the
//   error is sticky (cudaGetLastError, cudaStreamSynchronize and
//   cudaStreamQuery report it).
// - Launches are written TROUPE_LAUNCH(grid, block, stream, kernel<...>)(args)
//   (engine/local/cuda/cuda_common.cuh), which calls
//   troupe::cuda_sim::launch(name, grid, block, stream, kernel)(args...):
//   the arguments are converted to the kernel's parameter types and copied
//   when the launch is issued (as CUDA does, also when it is captured).
#pragma once

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __constant__ static

namespace troupe::cuda_sim::detail {

// The running simulated thread (a fiber of the block being run).
struct SimThread {
  uint3 thread_idx;
};
// The block being run.
struct SimBlock {
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
inline thread_local SimThread* t_thread = nullptr;
inline thread_local SimBlock* t_block = nullptr;

void syncthreads();
enum class ShflKind { idx, up, down, bfly, sync };
// Waits for the lanes of `mask`, then returns the bits `value` of the source
// lane that `kind`/`arg`/`width` pick (the caller's own for sync).
uint64_t warp_exchange(ShflKind kind, unsigned mask, uint64_t value, int arg, int width);

template <class T>
T shfl(ShflKind kind, unsigned mask, T v, int arg, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp shuffles move up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = warp_exchange(kind, mask, bits, arg, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

struct LaunchSpec {
  const char* name;
  dim3 grid;
  dim3 block;
  cudaStream_t stream;
};
// Runs `body` once per simulated thread of every block now, or records it
// when spec.stream is capturing. Errors go to the thread's last error.
void submit_kernel(const LaunchSpec& spec, std::function<void()> body);

template <class... P>
struct Launcher {
  LaunchSpec spec;
  void (*fn)(P...);
  template <class... A>
  void operator()(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    auto args = std::make_shared<const std::tuple<std::decay_t<P>...>>(static_cast<std::decay_t<P>>(std::forward<A>(a))...);
    auto f = fn;
    submit_kernel(spec, [f, args] { std::apply(f, *args); });
  }
};

}  // namespace troupe::cuda_sim::detail

namespace troupe::cuda_sim {

// The launch `kernel<<<grid, block, 0, stream>>>(args...)` as
// launch(name, grid, block, stream, kernel)(args...).
template <class... P>
detail::Launcher<P...> launch(const char* name, dim3 grid, dim3 block, cudaStream_t stream, void (*kernel)(P...)) {
  return detail::Launcher<P...>{detail::LaunchSpec{name, grid, block, stream}, kernel};
}

}  // namespace troupe::cuda_sim

#define threadIdx (::troupe::cuda_sim::detail::t_thread->thread_idx)
#define blockIdx (::troupe::cuda_sim::detail::t_block->block_idx)
#define blockDim (::troupe::cuda_sim::detail::t_block->block_dim)
#define gridDim (::troupe::cuda_sim::detail::t_block->grid_dim)
inline constexpr int warpSize = 32;

inline void __syncthreads() { ::troupe::cuda_sim::detail::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::troupe::cuda_sim::detail::warp_exchange(::troupe::cuda_sim::detail::ShflKind::sync, mask, 0, 0, 32);
}
template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32) {
  return ::troupe::cuda_sim::detail::shfl(::troupe::cuda_sim::detail::ShflKind::idx, mask, var, src_lane, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32) {
  return ::troupe::cuda_sim::detail::shfl(::troupe::cuda_sim::detail::ShflKind::up, mask, var, static_cast<int>(delta),
                                          width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32) {
  return ::troupe::cuda_sim::detail::shfl(::troupe::cuda_sim::detail::ShflKind::down, mask, var,
                                          static_cast<int>(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32) {
  return ::troupe::cuda_sim::detail::shfl(::troupe::cuda_sim::detail::ShflKind::bfly, mask, var, lane_mask, width);
}

template <class T>
inline T __ldg(const T* p) {
  return *p;
}

inline float __uint_as_float(unsigned int u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned int __float_as_uint(float f) {
  unsigned int u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float a, float b) { return a / b; }

// CUDA's integer min/max overloads (device code calls them unqualified).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }

inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }
inline dim3 make_dim3(unsigned x, unsigned y, unsigned z) { return dim3(x, y, z); }

// CUDA's typed overloads of cudaMalloc / cudaHostAlloc.
template <class T>
inline cudaError_t cudaMalloc(T** devPtr, size_t size) {
  return ::cudaMalloc(reinterpret_cast<void**>(devPtr), size);
}
template <class T>
inline cudaError_t cudaHostAlloc(T** ptr, size_t size, unsigned int flags) {
  return ::cudaHostAlloc(reinterpret_cast<void**>(ptr), size, flags);
}
