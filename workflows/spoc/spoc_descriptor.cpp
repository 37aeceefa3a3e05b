#include "workflows/spoc/spoc_descriptor.hpp"

namespace troupe::workflows {

// SPOC (pipelines.md §1): solver and verifier alternate until the verifier
// says correct or max_turns is reached.
const PipelineRules& spoc_rules() {
  static const PipelineRules rules{"spoc", {"solver", "verifier"}, {}, TROUPE_PARAM_RULES(TROUPE_SPOC_PARAMS),
                                   typed_reader(&read_spoc_params)};
  return rules;
}

TROUPE_DEFINE_PARAMS_READER(SpocParams, TROUPE_SPOC_PARAMS, spoc_rules, read_spoc_params)

}  // namespace troupe::workflows
