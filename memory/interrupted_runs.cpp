#include "memory/interrupted_runs.hpp"

namespace troupe::memory {

Result<RunningRuns> find_running_runs(Store& store) {
  RunningRuns out;
  Status s = store.for_each_run(RunStatus::running, [&](const RunRecord& r) {
    (r.origin == kRunOriginCli ? out.cli : out.daemon).push_back(r);
    return true;
  });
  if (!s.ok()) return s.error();
  return out;
}

Result<std::vector<RunRecord>> mark_interrupted_runs(Store& store, int64_t now_ms) {
  auto running = find_running_runs(store);
  if (!running.ok()) return running.error();
  std::vector<RunRecord> marked = std::move(running->cli);
  if (marked.empty()) return marked;
  for (auto& r : marked) {
    r.status = RunStatus::interrupted;
    r.error = kInterruptedError;
    r.updated_ms = now_ms;
  }
  Status s = store.write({}, {}, marked);
  if (!s.ok()) return s.error().with_context("marking interrupted runs");
  return marked;
}

}  // namespace troupe::memory
