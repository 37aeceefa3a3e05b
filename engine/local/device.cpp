#include "engine/local/device.hpp"

#include "engine/local/cpu_dot.hpp"

#if TROUPE_HAVE_CUDA
#include "engine/local/cuda/kernels_cuda.hpp"
#endif

namespace troupe::engine::local {

bool cuda_compiled() {
#if TROUPE_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

Result<std::shared_ptr<Kernels>> make_kernels(const Device& device, int cpu_threads) {
  if (device.kind == Device::Kind::cpu) {
    CpuKernelOptions o;
    o.threads = cpu_threads < 1 ? 1 : cpu_threads;
    return std::shared_ptr<Kernels>(make_cpu_kernels(o));
  }
#if TROUPE_HAVE_CUDA
  CudaKernelOptions o;
  o.device = device.index;
  auto k = make_cuda_kernels(o);
  if (!k.ok()) return k.error();
  return std::shared_ptr<Kernels>(std::move(k.value()));
#else
  return Error{ErrorCode::unsupported,
               "device " + to_string(device) +
                   ": this troupe was built without the CUDA backend (nvcc was not found, or TROUPE_CUDA was OFF, when it was built); "
                   "rebuild where the CUDA toolkit is installed, or use --device cpu"};
#endif
}

std::string describe_devices() {
  std::string out = std::string("cpu: ") + (!cpu_has_avx2()                ? "plain C++ kernels (no AVX2)"
                                            : cpu::cpu_supports_avx512_vnni() ? "AVX-512 VNNI and AVX2/FMA/F16C kernels"
                                                                         : "AVX2/FMA/F16C kernels");
#if TROUPE_HAVE_CUDA
  out += "\ncuda: compiled in; " + describe_cuda_devices();
#else
  out += "\ncuda: not compiled in (nvcc was not found, or TROUPE_CUDA was OFF, when this troupe was built)";
#endif
  return out;
}

}  // namespace troupe::engine::local
