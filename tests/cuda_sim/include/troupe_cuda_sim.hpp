// troupe's CUDA simulator: the controls and counters only a test uses.
// Include under #ifdef TROUPE_CUDA_SIM (the macro is defined for code built
// against the simulator: troupe_engine_cuda_sim and its test programs).
//
// What callers may rely on:
// - Settings apply to the whole process and stay until changed. Defaults:
//   1 device, 132 SMs, 16 GiB of device memory.
// - set_device_count(0): cudaGetDeviceCount fails with cudaErrorNoDevice,
//   as on a machine without a GPU or driver.
// - set_memory_limit(b): cudaMalloc fails with cudaErrorMemoryAllocation
//   once the live allocations would pass b bytes; cudaMemGetInfo reports
//   b minus what is allocated.
// - Counters count from the start or from reset_counters(); live
//   allocations is the current number of cudaMalloc blocks.
// - clear_errors() drops a sticky kernel fault and the last error, as a
//   fresh process would have; last_fault() is the message of the latest
//   kernel fault (also printed to stderr).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace troupe::cuda_sim {

void set_device_count(int n);
int device_count();
void set_sm_count(int n);
void set_memory_limit(size_t bytes);
size_t memory_limit();

struct Counters {
  uint64_t kernels_eager = 0;        // kernels run at launch (not from a graph)
  uint64_t graph_launches = 0;       // cudaGraphLaunch calls that ran
  uint64_t kernels_in_graphs = 0;    // kernels run by graph replays
  uint64_t memcpys = 0;              // copies run (eager or replayed), cudaMemcpy* of any kind
  uint64_t bytes_copied = 0;
  uint64_t live_allocations = 0;     // cudaMalloc blocks not yet freed
};
Counters counters();
void reset_counters();

void clear_errors();
std::string last_fault();

// The order blocks run in and a block's threads start and resume in after
// a barrier or warp intrinsic: in_order (by index; the default), reverse,
// or shuffled (a pseudo-random order from `seed`, a different one per
// launch). A kernel whose result depends on the order (a missing
// __syncthreads, blocks that depend on each other) gives different results
// under reverse or shuffled. The environment variables
// TROUPE_CUDA_SIM_SCHEDULE=in-order|reverse|shuffled and
// TROUPE_CUDA_SIM_SEED=N set it for a whole run.
enum class Schedule { in_order, reverse, shuffled };
void set_schedule(Schedule mode, uint64_t seed = 1);
Schedule schedule();

// Sets the device count for a scope and restores the previous one.
class ScopedDeviceCount {
 public:
  explicit ScopedDeviceCount(int n) : previous_(device_count()) { set_device_count(n); }
  ~ScopedDeviceCount() { set_device_count(previous_); }
  ScopedDeviceCount(const ScopedDeviceCount&) = delete;
  ScopedDeviceCount& operator=(const ScopedDeviceCount&) = delete;

 private:
  int previous_;
};

}  // namespace troupe::cuda_sim
