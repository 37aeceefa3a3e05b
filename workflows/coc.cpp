// Chain-of-Clarifications: placeholder until the pipeline lands.
#include "workflows/pipelines.hpp"

namespace troupe::workflows {

Result<PipelineFactory> coc_factory(const Workflow& wf) {
  return Error{ErrorCode::unsupported, wf.file + ": pipeline 'coc' is not implemented yet"};
}

actors::RoleSpec coc_role_spec(const std::string& role) { return actors::default_role_spec(role); }

std::optional<actors::ToolFn> coc_tool_role(const Workflow&, const std::string&) { return std::nullopt; }

}  // namespace troupe::workflows
