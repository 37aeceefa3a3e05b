// The run director: one actor per run. It owns the run's Pipeline and is
// its RunContext (see actors/pipeline.hpp for what pipelines may rely on).
// `start` writes the run record (status running), starts the pipeline and
// answers, when the run ends, with a RunOutcome, after the final run
// record, step labels and preference pairs are committed. `cancel` stops
// in-flight generation in the engine and ends the run as cancelled once
// the pipeline has seen its cancelled outputs. A failing pipeline (an
// exception, an error reply) fails this run only, with the reason stored.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "actors/engine_gateway.hpp"
#include "actors/pipeline.hpp"
#include "actors/roles.hpp"
#include "actors/store_writer.hpp"

namespace troupe::actors {

struct Budget {
  int64_t max_calls = 0;   // 0 = unlimited
  int64_t max_tokens = 0;  // prompt + completion tokens, 0 = unlimited
  double wall_time_s = 0;  // 0 = unlimited
};

struct DirectorConfig {
  std::string run_id;
  std::string workflow;
  std::string workflow_hash;
  std::string pipeline_name;
  RunInput input;
  Budget budget;
  std::map<std::string, role_actor> roles;
  engine_gateway gateway;
  store_writer writer;
  std::shared_ptr<Pipeline> pipeline;
  // Durable runs (the daemon): when set, every role call's result is
  // journaled in this store together with its steps, and a run restarted
  // with the same run_id replays committed calls from the journal instead
  // of asking the backend again (exactly-once; see docs/daemon.md).
  std::shared_ptr<memory::Store> journal;
  // Called in the director, after each step is committed (live events).
  std::function<void(const memory::StepRecord&)> on_step;
};

using run_director = caf::typed_actor<caf::replies_to<start_atom>::with<RunOutcome>,
                                      caf::reacts_to<cancel_atom>,
                                      caf::reacts_to<wall_timeout_atom>>;

run_director spawn_run_director(caf::actor_system& sys, DirectorConfig config);

}  // namespace troupe::actors
