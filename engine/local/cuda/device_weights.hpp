// The device copies of a model's matrices for the CUDA backend
// (kernels_cuda.cpp's upload_weights): the matrix record, two pinned
// staging buffers, and the upload of one matrix. Host code (g++), CUDA
// runtime API only.
//
// What callers may rely on:
// - upload_matrix() copies a {in, out} matrix to the device in its own type
//   (q8_0/q4_0 split into quants and scales, cuda_plan.hpp), reusing the
//   entry `weights` holds for its host data pointer when type and shape
//   match, else replacing it; the copies are queued on `stream` through
//   the staging buffers (the host fills one while the other is copied).
//   An error names the tensor: a shape that is not a matrix, quantised rows
//   that are not whole blocks, or a tensor that does not fit (its size and
//   the device's free memory).
// - free_matrix() frees a record's device memory (waiting for the device).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "engine/local/model.hpp"

namespace troupe::engine::local::cuda_host {

// Each of the two pinned staging buffers of upload_weights.
inline constexpr size_t kStagingBytes = size_t{64} << 20;

struct DeviceMatrix {
  std::string name;
  TensorType type = TensorType::f32;
  int64_t in = 0, out = 0;
  void* data = nullptr;         // rows, or q8_0/q4_0 quants
  uint16_t* scales = nullptr;   // q8_0/q4_0
  size_t bytes = 0;             // data + scales
};

void free_matrix(DeviceMatrix& m);

// Two pinned buffers that upload_matrix fills and copies alternately
// (pageable memory when pinned memory is refused: slower, same result).
struct Staging {
  char* buf[2] = {nullptr, nullptr};
  cudaEvent_t copied[2] = {nullptr, nullptr};
  bool pinned = false;
  std::vector<char> fallback[2];
  size_t capacity = 0;
  Status init(size_t bytes);
  ~Staging();
};

Status upload_matrix(const TensorView& t, Staging& staging, cudaStream_t stream, int device,
                     std::unordered_map<const void*, DeviceMatrix>& weights);

}  // namespace troupe::engine::local::cuda_host
