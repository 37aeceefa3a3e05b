// Kernels' default memory functions: host memory, for the CPU backends.
#include "engine/local/kernels.hpp"

#include <cstring>

namespace troupe::engine::local {

const char* to_string(KvType t) { return t == KvType::f16 ? "f16" : "f32"; }

std::shared_ptr<float[]> Kernels::alloc(size_t n) { return std::shared_ptr<float[]>(new float[n]()); }

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
