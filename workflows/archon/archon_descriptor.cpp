#include "workflows/archon/archon_descriptor.hpp"

namespace troupe::workflows {

// Archon (pipelines.md §4). The orchestrator role is not a model: it
// records each layer's state and the final choice as steps.
const PipelineRules& archon_rules() {
  static const PipelineRules rules{
      "archon",
      {"generator", "critic", "ranker", "fuser", "verifier", "unit_test_generator", "unit_test_evaluator",
       "orchestrator"},
      {"orchestrator"},
      TROUPE_PARAM_RULES(TROUPE_ARCHON_PARAMS),
      typed_reader(&read_archon_params)};
  return rules;
}

TROUPE_DEFINE_PARAMS_READER(ArchonParams, TROUPE_ARCHON_PARAMS, archon_rules, read_archon_params)

}  // namespace troupe::workflows
