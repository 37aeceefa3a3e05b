#include "workflows/pipelines.hpp"

#include "workflows/pipeline_list.hpp"

namespace troupe::workflows {

// Each pipeline's runtime half, NAME_pipeline(), defined in its folder.
#define TROUPE_DECLARE_PIPELINE(name) const PipelineDescriptor& name##_pipeline();
TROUPE_PIPELINES(TROUPE_DECLARE_PIPELINE)
#undef TROUPE_DECLARE_PIPELINE

const std::vector<const PipelineDescriptor*>& pipeline_descriptors() {
#define TROUPE_PIPELINE_ENTRY(name) &name##_pipeline(),
  static const std::vector<const PipelineDescriptor*> all = {TROUPE_PIPELINES(TROUPE_PIPELINE_ENTRY)};
#undef TROUPE_PIPELINE_ENTRY
  return all;
}

const PipelineDescriptor* find_pipeline(const std::string& name) {
  for (const PipelineDescriptor* d : pipeline_descriptors())
    if (d->rules->name == name) return d;
  return nullptr;
}

Result<PipelineFactory> make_pipeline_factory(const Workflow& wf) {
  const PipelineDescriptor* d = find_pipeline(wf.pipeline);
  if (!d || !d->factory)
    return Error{ErrorCode::invalid_argument, wf.file + ": pipeline '" + wf.pipeline + "' is not implemented yet"};
  return d->factory(wf);
}

std::optional<actors::ToolFn> pipeline_tool_role(const Workflow& wf, const std::string& role) {
  const PipelineDescriptor* d = find_pipeline(wf.pipeline);
  if (!d || !d->tool_role) return std::nullopt;
  return d->tool_role(wf, role);
}

Result<std::optional<actors::role_actor>> pipeline_actor_role(caf::actor_system& sys, const Workflow& wf,
                                                              const std::string& role) {
  const PipelineDescriptor* d = find_pipeline(wf.pipeline);
  if (!d || !d->actor_role) return std::optional<actors::role_actor>();
  return d->actor_role(sys, wf, role);
}

actors::RoleSpec pipeline_role_spec(const std::string& pipeline, const std::string& role) {
  const PipelineDescriptor* d = find_pipeline(pipeline);
  if (!d || !d->role_spec) return actors::default_role_spec(role);
  return d->role_spec(role);
}

}  // namespace troupe::workflows
