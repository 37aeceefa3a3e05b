#include "workflows/coc/coc_descriptor.hpp"

namespace troupe::workflows {

// Chain-of-Clarifications (pipelines.md §6, docs/coc.md). The judge role is
// C++ (ROUGE-L against the gold answer).
const PipelineRules& coc_rules() {
  static const PipelineRules rules{"coc",
                                   {"clarifier", "grounder", "solver", "verifier", "judge"},
                                   {"judge"},
                                   TROUPE_PARAM_RULES(TROUPE_COC_PARAMS),
                                   typed_reader(&read_coc_params)};
  return rules;
}

TROUPE_DEFINE_PARAMS_READER(CocTableParams, TROUPE_COC_PARAMS, coc_rules, read_coc_params)

}  // namespace troupe::workflows
