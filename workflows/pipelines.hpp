// The pipeline registry: turns a loaded Workflow into the Pipeline object
// that a run director drives, one per run. Unknown pipeline names and bad
// parameter values are errors naming the workflow file, line and column.
#pragma once

#include <memory>

#include "actors/pipeline.hpp"
#include "common/error.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

using PipelineFactory = std::function<std::shared_ptr<actors::Pipeline>()>;

// Validates the workflow's pipeline parameters once and returns a factory
// that makes a fresh Pipeline for each run.
Result<PipelineFactory> make_pipeline_factory(const Workflow& wf);

// SPOC (pipelines.md §1) in explicit-loop mode.
struct SpocParams {
  int max_turns = 4;  // solve/verify rounds at most
  std::string feedback_template =
      "A verifier checked your solution and judged it incorrect:\n{verification}\n\n"
      "Write a new, corrected solution. End with the final answer as \\boxed{ANSWER}.";
};
Result<SpocParams> spoc_params(const Workflow& wf);
std::shared_ptr<actors::Pipeline> make_spoc(SpocParams params);

}  // namespace troupe::workflows
