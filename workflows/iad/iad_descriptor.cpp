#include "workflows/iad/iad_descriptor.hpp"

namespace troupe::workflows {

// IAD (pipelines.md §3). The verifier is a tool role for verifier exact
// and command, a model for judge.
const PipelineRules& iad_rules() {
  static const PipelineRules rules = [] {
    PipelineRules r{"iad", {"solver", "verifier", "critic"}, {"verifier"}, TROUPE_PARAM_RULES(TROUPE_IAD_PARAMS),
                    typed_reader(&read_iad_params)};
    // `verifier: command` runs a program: refused in untrusted workflows.
    for (auto& rule : r.params)
      if (rule.name == "verifier") rule.program_values = {"command"};
    return r;
  }();
  return rules;
}

TROUPE_DEFINE_PARAMS_READER(IadParams, TROUPE_IAD_PARAMS, iad_rules, read_iad_params)

}  // namespace troupe::workflows
