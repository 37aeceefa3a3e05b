// Archon's descriptor, loader half (docs/adding-a-pipeline.md): name, roles
// and parameter table, from which the loader's checks and ArchonParams are
// generated. The runtime half is archon_pipeline() in archon.cpp.
#pragma once

#include "workflows/pipeline_rules.hpp"

namespace troupe::workflows {

#define TROUPE_ARCHON_PARAMS(INT, NUMBER, BOOL, TEXT, CHOICE)                                                     \
  TEXT(config, "", ParamKind::path, any_value(), "an Archon JSON config, relative to the workflow file")         \
  TEXT(layers, "", ParamKind::structured, any_value(), "the same layers inline (kept as JSON text)")             \
  INT(int64_t, seed, 0, any_value(), "the final choice among several candidates: seed + item id")                \
  INT(int, parse_retries, 10, at_least(0), "critic/verifier/unit tests: re-asks on unparsable output (§4(d))")   \
  INT(int, warn_candidates, 32, at_least(1), "a layer's output above this many candidates is noted")             \
  TEXT(verifier_reasoning_template, "", ParamKind::string, any_value(), "the verifier's first prompt (\"\" = built-in)")

struct ArchonParams {
  TROUPE_PARAM_FIELDS(TROUPE_ARCHON_PARAMS)
};

const PipelineRules& archon_rules();
Result<ArchonParams> read_archon_params(const Workflow& wf);

}  // namespace troupe::workflows
