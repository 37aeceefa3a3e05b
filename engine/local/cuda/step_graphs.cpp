// StepGraphs (step_graphs.hpp): recording, capture, the graph cache.
#include "engine/local/cuda/step_graphs.hpp"

#include <algorithm>

#include "engine/local/cuda/cuda_plan.hpp"

namespace troupe::engine::local::cuda_host {

StepGraphs::~StepGraphs() {
  for (auto& [key, g] : graphs_) cudaGraphExecDestroy(g.exec);
}

CudaGraphStats StepGraphs::stats() const {
  CudaGraphStats st = stats_;
  st.cached = graphs_.size();
  return st;
}

void StepGraphs::finish(cudaStream_t stream, bool as_graph, const Ok& ok) {
  const bool was_recording = recording_;
  recording_ = false;
  if (launches_.empty()) {
    key_.clear();
    return;
  }
  std::vector<Launch> launches = std::move(launches_);
  launches_.clear();
  std::string key = std::move(key_);
  key_.clear();
  if (was_recording && as_graph && run_graph(stream, std::move(key), launches, ok)) return;
  ++stats_.eager_steps;
  for (auto& f : launches)
    if (!f()) return;
}

// Launches the graph of `key`, capturing it first on the key's second
// sight. False when the launches must run eagerly instead (first sight,
// graphs off after a failed capture).
bool StepGraphs::run_graph(cudaStream_t stream, std::string key, const std::vector<Launch>& launches, const Ok& ok) {
  if (auto it = graphs_.find(key); it != graphs_.end()) {
    it->second.last_use = ++clock_;
    if (ok(cudaGraphLaunch(it->second.exec, stream), "graph launch")) ++stats_.replayed;
    return true;
  }
  if (capture_broken_) return false;
  const size_t hash = std::hash<std::string>{}(key);
  if (seen_keys_.insert(hash).second) {
    if (seen_keys_.size() > 4096) seen_keys_ = {hash};
    return false;
  }
  cudaGraphExec_t exec = capture(stream, launches);
  if (!exec) {
    capture_broken_ = true;
    ++stats_.capture_failures;
    return false;
  }
  if (graphs_.size() >= static_cast<size_t>(cuda_plan::kGraphCacheSize)) {
    auto oldest = std::min_element(graphs_.begin(), graphs_.end(),
                                   [](const auto& x, const auto& y) { return x.second.last_use < y.second.last_use; });
    cudaGraphExecDestroy(oldest->second.exec);  // freed by CUDA once a launch in flight ends
    graphs_.erase(oldest);
  }
  graphs_.emplace(std::move(key), Graph{exec, ++clock_});
  ++stats_.captured;
  if (ok(cudaGraphLaunch(exec, stream), "graph launch")) ++stats_.replayed;
  return true;
}

// The launches captured on the stream into an executable graph; null when
// any part of capturing failed (nothing ran; errors are cleared).
cudaGraphExec_t StepGraphs::capture(cudaStream_t stream, const std::vector<Launch>& launches) {
  if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  capturing_ = true;
  capture_failed_ = false;
  for (auto& f : launches)
    if (!f()) break;
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  cudaGraphExec_t exec = nullptr;
  if (ended == cudaSuccess && !capture_failed_ && graph && cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess)
    exec = nullptr;
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();  // a failed capture leaves no sticky error; the eager run reports its own
  return exec;
}

}  // namespace troupe::engine::local::cuda_host
