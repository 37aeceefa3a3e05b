// SPOC's descriptor, loader half (docs/adding-a-pipeline.md): its name,
// roles and parameter table, from which the loader's checks and SpocParams
// are generated. No actor types here; the runtime half is spoc_pipeline()
// in spoc.cpp.
#pragma once

#include <string>
#include <vector>

#include "workflows/pipeline_rules.hpp"

namespace troupe::workflows {

// explicit: solver and verifier as separate messages (the only one run
// today); single_pass: one streamed generation (needs a SPOC-trained model).
enum class SpocMode { explicit_turns, single_pass };
inline const std::vector<std::string> kSpocModeNames = {"explicit", "single_pass"};

inline const char* const kSpocFeedbackTemplate =
    "A verifier checked your solution and judged it incorrect:\n{verification}\n\n"
    "Write a new, corrected solution. End with the final answer as \\boxed{ANSWER}.";

#define TROUPE_SPOC_PARAMS(INT, NUMBER, BOOL, TEXT, CHOICE)                                                      \
  INT(int, max_turns, 4, at_least(1), "solve/verify rounds at most")                                             \
  CHOICE(SpocMode, mode, explicit_turns, kSpocModeNames, "explicit | single_pass (not available yet)")            \
  TEXT(feedback_template, kSpocFeedbackTemplate, ParamKind::string, any_value(),                                 \
       "the user message that sends a rejected attempt back to the solver ({verification})")

struct SpocParams {
  TROUPE_PARAM_FIELDS(TROUPE_SPOC_PARAMS)
};

const PipelineRules& spoc_rules();
// The table's values (bounds checked), defaults for keys not set.
Result<SpocParams> read_spoc_params(const Workflow& wf);

}  // namespace troupe::workflows
