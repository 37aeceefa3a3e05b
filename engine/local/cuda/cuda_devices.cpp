// The CUDA device queries of kernels_cuda.hpp: how many devices, a line
// for `troupe doctor`, and the device-to-device copy bandwidth bench_cuda
// compares decode against.
#include "engine/local/cuda/kernels_cuda.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>

#include "engine/local/cuda/cuda_host.hpp"

namespace troupe::engine::local {

using cuda_host::code_for;
using cuda_host::cuda_text;

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string describe_cuda_devices() {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();
    return "no usable CUDA device or driver (cudaGetDeviceCount: " + cuda_text(e) + ")";
  }
  if (count == 0) return "no CUDA device found";
  std::string out = std::to_string(count) + " device(s):";
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaError_t e = cudaGetDeviceProperties(&prop, d); e != cudaSuccess) {
      out += " #" + std::to_string(d) + " (cudaGetDeviceProperties: " + cuda_text(e) + ")";
      continue;
    }
    char mem[32];
    std::snprintf(mem, sizeof mem, "%.1f GiB", static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    out += std::string(d ? ";" : "") + " #" + std::to_string(d) + " " + prop.name + ", " + mem + ", sm_" +
           std::to_string(prop.major) + std::to_string(prop.minor) + ", " + std::to_string(prop.multiProcessorCount) +
           " SMs";
  }
  return out;
}

Result<double> measure_cuda_copy_bandwidth(int device, size_t bytes, int repeats) {
  int count = cuda_device_count();
  if (device < 0 || device >= count)
    return Error{ErrorCode::unsupported, "no CUDA device " + std::to_string(device) + " (" + describe_cuda_devices() + ")"};
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess)
    return Error{ErrorCode::unsupported, "cudaSetDevice: " + cuda_text(e)};
  repeats = std::max(repeats, 1);
  void *a = nullptr, *b = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  auto cleanup = [&] {
    if (a) cudaFree(a);
    if (b) cudaFree(b);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    cudaGetLastError();
  };
  cudaError_t e = cudaMalloc(&a, bytes);
  if (e == cudaSuccess) e = cudaMalloc(&b, bytes);
  if (e == cudaSuccess) e = cudaMemset(a, 1, bytes);
  if (e == cudaSuccess) e = cudaEventCreate(&start);
  if (e == cudaSuccess) e = cudaEventCreate(&stop);
  if (e == cudaSuccess) e = cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);  // warm-up
  if (e == cudaSuccess) e = cudaEventRecord(start);
  for (int i = 0; i < repeats && e == cudaSuccess; ++i) e = cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
  if (e == cudaSuccess) e = cudaEventRecord(stop);
  if (e == cudaSuccess) e = cudaEventSynchronize(stop);
  float ms = 0.0f;
  if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, start, stop);
  cleanup();
  if (e != cudaSuccess) return Error{code_for(e), "copy bandwidth: " + cuda_text(e)};
  return 2.0 * static_cast<double>(bytes) * repeats / (static_cast<double>(ms) / 1000.0);
}

}  // namespace troupe::engine::local
