// Kernels' default memory functions: host memory, for the CPU backends.
#include "engine/local/kernels.hpp"

#include <cstring>

namespace troupe::engine::local {

std::shared_ptr<float[]> Kernels::alloc(size_t n) { return std::shared_ptr<float[]>(new float[n]()); }

// Uninitialised: a KV pool's pages are only touched when rows are written.
std::shared_ptr<float[]> Kernels::alloc_uninitialized(size_t n) { return std::shared_ptr<float[]>(new float[n]); }

Status Kernels::upload_weights(const ModelWeights&) { return {}; }

void Kernels::begin_step(const StepArrays&) {}

void Kernels::copy_blocks(std::span<float* const> buffers, size_t block_floats, std::span<const BlockCopy> copies) {
  const size_t bytes = block_floats * sizeof(float);
  for (float* base : buffers)
    for (const BlockCopy& c : copies)
      std::memcpy(base + static_cast<size_t>(c.to) * block_floats, base + static_cast<size_t>(c.from) * block_floats,
                  bytes);
}

void Kernels::to_host(const float* src, float* host_dst, size_t n) {
  if (n) std::memcpy(host_dst, src, n * sizeof(float));
}

void Kernels::from_host(const float* host_src, float* dst, size_t n) {
  if (n) std::memcpy(dst, host_src, n * sizeof(float));
}

void Kernels::matmuls(std::span<const MatmulOut> outs, const float* x, int n) {
  for (const MatmulOut& o : outs) matmul(*o.w, o.bias, x, n, o.y);
}

}  // namespace troupe::engine::local
