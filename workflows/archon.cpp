// Archon: placeholder until the pipeline lands.
#include "workflows/pipelines.hpp"

namespace troupe::workflows {

Result<PipelineFactory> archon_factory(const Workflow& wf) {
  return Error{ErrorCode::unsupported, wf.file + ": pipeline 'archon' is not implemented yet"};
}

actors::RoleSpec archon_role_spec(const std::string& role) { return actors::default_role_spec(role); }

std::optional<actors::ToolFn> archon_tool_role(const Workflow&, const std::string&) { return std::nullopt; }

}  // namespace troupe::workflows
