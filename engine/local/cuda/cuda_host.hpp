// Host-side helpers of the CUDA backend shared by its .cpp files: CUDA
// error text and codes, and a small parallel loop for filling pinned
// staging memory. Inline; CUDA runtime headers only.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"

namespace troupe::engine::local::cuda_host {

// "cudaErrorX (what it means)".
inline std::string cuda_text(cudaError_t e) { return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")"; }

inline ErrorCode code_for(cudaError_t e) {
  return e == cudaErrorMemoryAllocation ? ErrorCode::unsupported : ErrorCode::internal;
}

// Runs f(begin, end) over [0, n) on up to 16 threads, ranges of at least
// `grain` items each; the caller's thread takes the first range.
template <class F>
inline void parallel_for(int64_t n, int64_t grain, F&& f) {
  const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  const int64_t threads = std::min<int64_t>({hw, 16, (n + grain - 1) / std::max<int64_t>(grain, 1)});
  if (threads <= 1) {
    f(int64_t{0}, n);
    return;
  }
  const int64_t chunk = (n + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back([&f, b, e] { f(b, e); });
  }
  f(int64_t{0}, std::min(n, chunk));
  for (auto& th : pool) th.join();
}

}  // namespace troupe::engine::local::cuda_host
