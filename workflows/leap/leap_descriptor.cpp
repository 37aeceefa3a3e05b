#include "workflows/leap/leap_descriptor.hpp"

namespace troupe::workflows {

// LeaP (pipelines.md §2). peer: the router, C++ (a tool role), not a model.
const PipelineRules& leap_rules() {
  static const PipelineRules rules{"leap", {"solver", "peer"}, {"peer"}, TROUPE_PARAM_RULES(TROUPE_LEAP_PARAMS),
                                   typed_reader(&read_leap_params)};
  return rules;
}

TROUPE_DEFINE_PARAMS_READER(LeapParams, TROUPE_LEAP_PARAMS, leap_rules, read_leap_params)

}  // namespace troupe::workflows
