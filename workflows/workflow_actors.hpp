// What every run of one workflow shares, spawned on an actor system that
// already has an engine gateway and a store writer: the workflow's role
// actors (model roles on the gateway, tool roles, the prover) and its
// pipeline factory. The Runner (one workflow, one batch of inputs) and the
// daemon (many workflows, runs arriving over HTTP) both build their runs
// from this, so a run is set up the same way whoever starts it.
//
// spawn_workflow_actors() validates the pipeline's params and, for LINC,
// that eprover runs; an error names the workflow file. The returned actors
// live until stop_workflow_actors() (or the actor system's end).
#pragma once

#include <map>
#include <string>

#include "actors/run_director.hpp"
#include "common/error.hpp"
#include "workflows/pipelines.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

struct WorkflowActors {
  Workflow wf;
  PipelineFactory factory;
  std::map<std::string, actors::role_actor> roles;
  // Per role: its part of durable runs' journal keys (actors/journal.hpp).
  std::map<std::string, std::string> role_identity;
};

// `info` is the gateway's backend (recorded with each step).
Result<WorkflowActors> spawn_workflow_actors(caf::actor_system& sys, Workflow wf, actors::engine_gateway gateway,
                                             const engine::BackendInfo& info);

// Asks every role actor to exit; the handles are cleared.
void stop_workflow_actors(WorkflowActors& actors);

// A director config for one run of `wa` (budget, roles, a fresh pipeline).
actors::DirectorConfig director_config(const WorkflowActors& wa, std::string run_id, actors::RunInput input,
                                       actors::engine_gateway gateway, actors::store_writer writer);

// The record of a run whose director stopped without reporting an outcome.
memory::RunRecord lost_run_record(const Workflow& wf, const std::string& run_id, const actors::RunInput& input,
                                  const std::string& error);

}  // namespace troupe::workflows
