#include "workflows/pipelines.hpp"

namespace troupe::workflows {

Result<PipelineFactory> make_pipeline_factory(const Workflow& wf) {
  if (wf.pipeline == "spoc") {
    auto p = spoc_params(wf);
    if (!p.ok()) return p.error();
    SpocParams params = *p;
    return PipelineFactory([params] { return make_spoc(params); });
  }
  return Error{ErrorCode::invalid_argument, wf.file + ": pipeline '" + wf.pipeline + "' is not implemented yet"};
}

}  // namespace troupe::workflows
