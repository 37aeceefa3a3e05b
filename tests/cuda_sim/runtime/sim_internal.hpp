// Internals shared by the simulator's runtime files (not for callers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace troupe::cuda_sim::detail {

// One operation of a stream: run now, or recorded into a graph.
struct Node {
  enum class Kind { kernel, memcpy, memset, blas, graph } kind = Kind::kernel;
  std::string name;
  std::function<cudaError_t()> run;
};

// Runs every block of a launch (fibers.cpp). A kernel fault returns its
// error with the sticky error already set.
cudaError_t run_kernel(const LaunchSpec& spec, const std::function<void()>& body);

// Sets the calling thread's last error (when e is an error) and returns e.
cudaError_t fail(cudaError_t e);
// The sticky error (a kernel fault), or cudaSuccess.
cudaError_t sticky();
// Records a kernel fault: sticky error, message to stderr and last_fault().
void set_fault(cudaError_t e, const std::string& message);

// Runs `node` on `stream`, or records it when the stream captures. Returns
// the node's error (or the capture's), with the last error set.
cudaError_t enqueue(cudaStream_t stream, Node node);

// Whether [p, p + n) lies inside one device allocation (n may be 0).
bool device_range(const void* p, size_t n);
// Whether p points into a device allocation.
bool is_device_pointer(const void* p);

void count_copy(size_t bytes);

}  // namespace troupe::cuda_sim::detail
