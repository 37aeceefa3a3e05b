// IAD: placeholder until the pipeline lands.
#include "workflows/pipelines.hpp"

namespace troupe::workflows {

Result<PipelineFactory> iad_factory(const Workflow& wf) {
  return Error{ErrorCode::unsupported, wf.file + ": pipeline 'iad' is not implemented yet"};
}

actors::RoleSpec iad_role_spec(const std::string& role) { return actors::default_role_spec(role); }

std::optional<actors::ToolFn> iad_tool_role(const Workflow&, const std::string&) { return std::nullopt; }

}  // namespace troupe::workflows
