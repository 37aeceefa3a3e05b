// LINC's descriptor, loader half (docs/adding-a-pipeline.md): name, roles
// and parameter table, from which the loader's checks and LincParams are
// generated. The runtime half is linc_pipeline() in linc.cpp.
#pragma once

#include "workflows/pipeline_rules.hpp"

namespace troupe::workflows {

#define TROUPE_LINC_PARAMS(INT, NUMBER, BOOL, TEXT, CHOICE)                                           \
  INT(int, samples, 10, at_least(1), "K: FOL translations, each decided by the prover")               \
  TEXT(prover, "eprover", ParamKind::program, any_value(), "the E prover program")                    \
  NUMBER(cpu_limit_s, 10, at_least(1), "E's --cpu-limit per call (LINC: 10 s)")                       \
  NUMBER(prover_timeout_s, 0, at_least(0), "wall-clock kill; 0 = 2 x cpu_limit_s + 2 s")              \
  INT(int, prover_jobs, 0, at_least(0), "problems proved at once; 0 = cores / 2")

struct LincParams {
  TROUPE_PARAM_FIELDS(TROUPE_LINC_PARAMS)
};

const PipelineRules& linc_rules();
Result<LincParams> read_linc_params(const Workflow& wf);

}  // namespace troupe::workflows
