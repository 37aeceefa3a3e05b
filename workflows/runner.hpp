// The Runner executes a workflow over a stream of inputs: it opens the
// store, starts the backend, the engine gateway, the store writer and one
// actor per role, then runs each input as its own run (one run director
// each), at most `concurrency` at a time. Every run's record, steps and
// pairs are in the store before its outcome is reported. An input error
// (a bad JSONL line) stops new runs from starting; the runs already in
// flight finish and are recorded, and run() then returns that error. A
// run that fails (backend down, bad model output, a crashed actor) is
// recorded as failed and counted; it does not stop the others.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "actors/messages.hpp"
#include "common/error.hpp"
#include "engine/backend.hpp"
#include "memory/store.hpp"
#include "workflows/inputs.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

struct RunnerOptions {
  std::string db_path;                       // overrides the workflow's store path
  std::shared_ptr<engine::Backend> backend;  // overrides the workflow's backend
  std::shared_ptr<memory::Store> store;      // an already open store (tests, daemon)
  int concurrency = 0;                       // 0 = the workflow's
};

struct RunSummary {
  int64_t items = 0, succeeded = 0, failed = 0, cancelled = 0;
  int64_t with_gold = 0, correct = 0;
  int64_t calls = 0, prompt_tokens = 0, completion_tokens = 0;
  double wall_s = 0;
};

using OutcomeFn = std::function<void(const actors::RunOutcome&, const RunSummary&)>;
// Called about twice a second while runs are in flight.
using TickFn = std::function<void(const RunSummary&, int64_t in_flight)>;

// Makes the backend a workflow names (http or scripted).
Result<std::shared_ptr<engine::Backend>> make_backend(const BackendConfig& cfg);

class Runner {
 public:
  static Result<std::unique_ptr<Runner>> create(Workflow wf, RunnerOptions options = {});
  ~Runner();

  Result<RunSummary> run(InputSource& inputs, const OutcomeFn& on_outcome = {}, const TickFn& on_tick = {});

  memory::Store& store();
  engine::Backend& backend();

  struct Impl;

 private:
  explicit Runner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace troupe::workflows
