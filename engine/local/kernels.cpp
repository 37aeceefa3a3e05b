// Kernels' default memory functions: host memory, for the CPU backends.
#include "engine/local/kernels.hpp"

#include <cstring>

namespace troupe::engine::local {

std::shared_ptr<float[]> Kernels::alloc(size_t n) { return std::shared_ptr<float[]>(new float[n]()); }

void Kernels::to_host(const float* src, float* host_dst, size_t n) {
  if (n) std::memcpy(host_dst, src, n * sizeof(float));
}

void Kernels::from_host(const float* host_src, float* dst, size_t n) {
  if (n) std::memcpy(dst, host_src, n * sizeof(float));
}

}  // namespace troupe::engine::local
