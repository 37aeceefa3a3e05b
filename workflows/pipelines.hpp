// The pipeline registry: turns a loaded Workflow into the Pipeline object
// that a run director drives, one per run. Unknown pipeline names and bad
// parameter values are errors naming the workflow file, line and column.
#pragma once

#include <memory>
#include <optional>

#include "actors/pipeline.hpp"
#include "actors/roles.hpp"
#include "actors/tool_role.hpp"
#include "common/error.hpp"
#include "prover_bridge/prover.hpp"
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

// LINC (pipelines.md §5): K translations, a prover per sample, majority vote.
struct LincParams {
  int samples = 10;  // K
};
Result<LincParams> linc_params(const Workflow& wf);
std::shared_ptr<actors::Pipeline> make_linc(LincParams params);
// The E prover behind a workflow's `prover` role, from its params (prover,
// cpu_limit_s, prover_timeout_s, prover_jobs). Fails, naming the workflow
// file, when eprover cannot be run.
Result<std::shared_ptr<prover::Prover>> make_prover(const Workflow& wf);
// LINC's role defaults (the translator's few-shot prompt and sampling).
actors::RoleSpec linc_role_spec(const std::string& role);

// LeaP (§2), IAD (§3), Archon (§4) and Chain-of-Clarifications (§6): each
// file validates its own params and returns the factory, and gives its
// roles' built-in prompts and sampling.
Result<PipelineFactory> leap_factory(const Workflow& wf);
actors::RoleSpec leap_role_spec(const std::string& role);
Result<PipelineFactory> iad_factory(const Workflow& wf);
actors::RoleSpec iad_role_spec(const std::string& role);
Result<PipelineFactory> archon_factory(const Workflow& wf);
actors::RoleSpec archon_role_spec(const std::string& role);
Result<PipelineFactory> coc_factory(const Workflow& wf);
actors::RoleSpec coc_role_spec(const std::string& role);

// Roles a pipeline implements in C++ instead of a model (LeaP's peer
// router, IAD's exact-answer verifier, ...), decided from the workflow's
// params: a function for such a role, nullopt for a model role. The runner
// spawns a tool role (actors/tool_role.hpp) for each.
std::optional<actors::ToolFn> pipeline_tool_role(const Workflow& wf, const std::string& role);
std::optional<actors::ToolFn> leap_tool_role(const Workflow& wf, const std::string& role);
std::optional<actors::ToolFn> iad_tool_role(const Workflow& wf, const std::string& role);
std::optional<actors::ToolFn> archon_tool_role(const Workflow& wf, const std::string& role);
std::optional<actors::ToolFn> coc_tool_role(const Workflow& wf, const std::string& role);

// A role's built-in defaults for a pipeline: the pipeline's own where it
// has them, else actors::default_role_spec().
actors::RoleSpec pipeline_role_spec(const std::string& pipeline, const std::string& role);

}  // namespace troupe::workflows
