// UploadArena: pinned host memory plus device memory for the CUDA backend's
// small uploads (step arrays, attention descriptors, block tables).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace troupe::engine::local::cuda_host {

// Pinned host memory plus device memory for small uploads (step arrays,
// descriptors, block tables): upload() copies into the pinned buffer and
// queues one async H2D copy. Space is handed out front to back and never
// reused before reset(): when a buffer is full a larger one is taken and
// the full one retired (queued kernels may still read it), so every device
// pointer handed out stays valid until reset(). reset() may only be called
// when no queued or deferred op still needs earlier uploads (begin_step
// after flushing, or after a stream sync); it waits for the last copy (so
// no pinned byte is overwritten before the GPU has read it; device bytes
// are safe by stream order) and frees retired buffers after a stream sync.
class UploadArena {
 public:
  UploadArena() = default;
  UploadArena(const UploadArena&) = delete;
  UploadArena& operator=(const UploadArena&) = delete;
  ~UploadArena() {
    if (done_) cudaEventSynchronize(done_);
    for (auto& c : retired_) free_chunk(c);
    free_chunk(current_);
    if (done_) cudaEventDestroy(done_);
  }

  // Changes whenever earlier device copies may have been overwritten.
  uint64_t generation() const { return generation_; }

  cudaError_t reset(cudaStream_t stream) {
    if (pending_) {
      pending_ = false;
      if (cudaError_t e = cudaEventSynchronize(done_); e != cudaSuccess) return e;
    }
    if (!retired_.empty()) {
      if (cudaError_t e = cudaStreamSynchronize(stream); e != cudaSuccess) return e;
      for (auto& c : retired_) free_chunk(c);
      retired_.clear();
    }
    offset_ = 0;
    ++generation_;
    return cudaSuccess;
  }

  cudaError_t upload(const void* src, size_t bytes, cudaStream_t stream, const void** out) {
    const size_t need = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
    if (offset_ + need > current_.capacity)
      if (cudaError_t e = add_chunk(std::max<size_t>({need, current_.capacity * 2, size_t{1} << 20}));
          e != cudaSuccess)
        return e;
    std::memcpy(current_.host + offset_, src, bytes);
    if (cudaError_t e = cudaMemcpyAsync(current_.device + offset_, current_.host + offset_, bytes,
                                        cudaMemcpyHostToDevice, stream);
        e != cudaSuccess)
      return e;
    if (cudaError_t e = cudaEventRecord(done_, stream); e != cudaSuccess) return e;
    pending_ = true;
    *out = current_.device + offset_;
    offset_ += need;
    return cudaSuccess;
  }

 private:
  struct Chunk {
    char* host = nullptr;
    char* device = nullptr;
    size_t capacity = 0;
  };
  cudaError_t add_chunk(size_t capacity) {
    if (!done_)
      if (cudaError_t e = cudaEventCreateWithFlags(&done_, cudaEventDisableTiming); e != cudaSuccess) {
        done_ = nullptr;
        return e;
      }
    Chunk c;
    if (cudaError_t e = cudaHostAlloc(reinterpret_cast<void**>(&c.host), capacity, cudaHostAllocDefault);
        e != cudaSuccess)
      return e;
    if (cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&c.device), capacity); e != cudaSuccess) {
      cudaFreeHost(c.host);
      return e;
    }
    c.capacity = capacity;
    if (current_.capacity) retired_.push_back(current_);
    current_ = c;
    offset_ = 0;
    return cudaSuccess;
  }
  static void free_chunk(Chunk& c) {
    if (c.host) cudaFreeHost(c.host);
    if (c.device) cudaFree(c.device);
    c = Chunk{};
  }

  Chunk current_;
  std::vector<Chunk> retired_;
  size_t offset_ = 0;
  cudaEvent_t done_ = nullptr;
  bool pending_ = false;
  uint64_t generation_ = 0;
};

}  // namespace troupe::engine::local::cuda_host
