#include "workflows/linc/linc_descriptor.hpp"

namespace troupe::workflows {

// LINC (pipelines.md §5): the translator writes `samples` FOL translations;
// the prover role (the E prover, not a model) decides each.
const PipelineRules& linc_rules() {
  static const PipelineRules rules{"linc", {"translator", "prover"}, {"prover"},
                                   TROUPE_PARAM_RULES(TROUPE_LINC_PARAMS), typed_reader(&read_linc_params)};
  return rules;
}

TROUPE_DEFINE_PARAMS_READER(LincParams, TROUPE_LINC_PARAMS, linc_rules, read_linc_params)

}  // namespace troupe::workflows
