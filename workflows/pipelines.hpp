// The pipeline registry, runtime half: each pipeline's descriptor (its
// loader half, PipelineRules, plus the factory, role specs, tool roles and
// roles served by actors of its own)
// and the lookups the runner uses. The list of pipelines is
// workflows/pipeline_list.hpp; adding one is docs/adding-a-pipeline.md.
//
// What callers may rely on: make_pipeline_factory() validates a loaded
// Workflow's params once (the table's bounds and the pipeline's checks
// across keys) and returns a factory making a fresh Pipeline per run; an
// unknown pipeline or a bad value is an Error naming the workflow file, and
// for a param its line and column.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/pipeline.hpp"
#include "actors/roles.hpp"
#include "actors/tool_role.hpp"
#include "common/error.hpp"
#include "workflows/pipeline_rules.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

using PipelineFactory = std::function<std::shared_ptr<actors::Pipeline>()>;

struct PipelineDescriptor {
  const PipelineRules* rules = nullptr;  // name, roles, tool roles, param table
  // Validates the workflow's params and returns the factory.
  std::function<Result<PipelineFactory>(const Workflow&)> factory;
  // A model role's built-in prompts and sampling (empty: actors::default_role_spec()).
  std::function<actors::RoleSpec(const std::string& role)> role_spec;
  // A role the pipeline implements in C++ for these params, nullopt for a
  // model role (empty: none). The runner spawns a tool role for each.
  std::function<std::optional<actors::ToolFn>(const Workflow&, const std::string& role)> tool_role;
  // A role served by an actor the pipeline spawns itself, neither a model
  // nor a ToolFn (LINC's E prover); nullopt for other roles (empty: none).
  // An error (eprover cannot run) fails the workflow at start.
  std::function<Result<std::optional<actors::role_actor>>(caf::actor_system&, const Workflow&, const std::string& role)>
      actor_role;
};

// A descriptor's `factory` for a pipeline class P constructed from the
// params `read` returns (read fails: the factory fails with its error).
template <class P, class Params>
std::function<Result<PipelineFactory>(const Workflow&)> factory_from(Result<Params> (*read)(const Workflow&)) {
  return [read](const Workflow& wf) -> Result<PipelineFactory> {
    auto p = read(wf);
    if (!p.ok()) return p.error();
    return PipelineFactory([params = std::move(p.value())] { return std::make_shared<P>(params); });
  };
}

// Every pipeline, in the order of pipeline_list.hpp.
const std::vector<const PipelineDescriptor*>& pipeline_descriptors();
const PipelineDescriptor* find_pipeline(const std::string& name);

Result<PipelineFactory> make_pipeline_factory(const Workflow& wf);
std::optional<actors::ToolFn> pipeline_tool_role(const Workflow& wf, const std::string& role);
Result<std::optional<actors::role_actor>> pipeline_actor_role(caf::actor_system& sys, const Workflow& wf,
                                                              const std::string& role);
// A role's built-in defaults for a pipeline: the pipeline's own where it
// has them, else actors::default_role_spec().
actors::RoleSpec pipeline_role_spec(const std::string& pipeline, const std::string& role);

}  // namespace troupe::workflows
