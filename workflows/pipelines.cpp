#include "workflows/pipelines.hpp"

namespace troupe::workflows {

Result<PipelineFactory> make_pipeline_factory(const Workflow& wf) {
  if (wf.pipeline == "spoc") {
    auto p = spoc_params(wf);
    if (!p.ok()) return p.error();
    SpocParams params = *p;
    return PipelineFactory([params] { return make_spoc(params); });
  }
  if (wf.pipeline == "linc") {
    auto p = linc_params(wf);
    if (!p.ok()) return p.error();
    LincParams params = *p;
    return PipelineFactory([params] { return make_linc(params); });
  }
  if (wf.pipeline == "leap") return leap_factory(wf);
  if (wf.pipeline == "iad") return iad_factory(wf);
  if (wf.pipeline == "archon") return archon_factory(wf);
  if (wf.pipeline == "coc") return coc_factory(wf);
  return Error{ErrorCode::invalid_argument, wf.file + ": pipeline '" + wf.pipeline + "' is not implemented yet"};
}

std::optional<actors::ToolFn> pipeline_tool_role(const Workflow& wf, const std::string& role) {
  if (wf.pipeline == "leap") return leap_tool_role(wf, role);
  if (wf.pipeline == "iad") return iad_tool_role(wf, role);
  if (wf.pipeline == "archon") return archon_tool_role(wf, role);
  if (wf.pipeline == "coc") return coc_tool_role(wf, role);
  return std::nullopt;
}

actors::RoleSpec pipeline_role_spec(const std::string& pipeline, const std::string& role) {
  if (pipeline == "linc") return linc_role_spec(role);
  if (pipeline == "leap") return leap_role_spec(role);
  if (pipeline == "iad") return iad_role_spec(role);
  if (pipeline == "archon") return archon_role_spec(role);
  if (pipeline == "coc") return coc_role_spec(role);
  return actors::default_role_spec(role);
}

}  // namespace troupe::workflows
