// StepGraphs: a decode step's launches recorded and run as one CUDA graph
// (kernels_cuda.hpp, "Decode steps as CUDA graphs"; docs/cuda.md). The
// CUDA backend records each launch as a closure plus its arguments' bytes
// (the step's key) while a step is recording, and finishes the step at its
// sync point.
//
// What callers may rely on:
// - finish(stream, true) runs the recorded launches in order: as one
//   cudaGraphLaunch when the same key was seen before (captured on its
//   second sight; an LRU cache of cuda_plan::kGraphCacheSize graphs), else
//   eagerly. Equal keys must mean identical launches: the caller appends
//   every argument of every launch (key_append refuses types with padding).
//   finish(stream, false) always runs them eagerly.
// - While a capture runs the launches, capturing() is true: a launch that
//   fails then calls capture_failed() instead of reporting an error; the
//   capture is dropped, the launches run eagerly (reporting their own
//   errors), and graphs stay off for this object from then on.
// - Graph launch errors go to the `ok` callback of finish().
// - Destruction destroys the cached graphs; the stream's work must be done.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/local/cuda/cuda_launch.hpp"
#include "engine/local/cuda/kernels_cuda.hpp"

namespace troupe::engine::local::cuda_host {

class StepGraphs {
 public:
  using Launch = std::function<bool()>;  // enqueues one launch; false when it failed
  using Ok = std::function<bool(cudaError_t, const char*)>;

  StepGraphs() = default;
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;
  ~StepGraphs();

  bool recording() const { return recording_; }
  void start_recording() { recording_ = true; }

  // Appends v's bytes to the step's key.
  template <class T>
  void key_append(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    static_assert(std::has_unique_object_representations_v<T> || std::is_floating_point_v<T> ||
                      std::is_same_v<T, cuda::AttnParams>,
                  "a launch argument with padding bytes would make equal steps' keys differ");
    key_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void record(Launch f) { launches_.push_back(std::move(f)); }

  // Ends the step's recording and runs what it recorded (see above).
  void finish(cudaStream_t stream, bool as_graph, const Ok& ok);

  bool capturing() const { return capturing_; }
  void capture_failed() { capture_failed_ = true; }

  CudaGraphStats stats() const;

 private:
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    uint64_t last_use = 0;
  };
  bool run_graph(cudaStream_t stream, std::string key, const std::vector<Launch>& launches, const Ok& ok);
  cudaGraphExec_t capture(cudaStream_t stream, const std::vector<Launch>& launches);

  bool recording_ = false;
  bool capturing_ = false, capture_failed_ = false, capture_broken_ = false;
  std::vector<Launch> launches_;
  std::string key_;
  std::unordered_map<std::string, Graph> graphs_;
  std::unordered_set<size_t> seen_keys_;
  uint64_t clock_ = 0;
  CudaGraphStats stats_;
};

}  // namespace troupe::engine::local::cuda_host
