// Chain-of-Clarifications' descriptor, loader half
// (docs/adding-a-pipeline.md): name, roles and parameter table, from which
// the loader's checks and CocTableParams are generated. The runtime half is
// coc_pipeline() in coc.cpp.
#pragma once

#include <string>
#include <vector>

#include "workflows/pipeline_rules.hpp"

namespace troupe::workflows {

// inference: the clarify/ground/answer loop; tree: the data-generation tree.
enum class CocMode { inference, tree };
inline const std::vector<std::string> kCocModeNames = {"inference", "tree"};

#define TROUPE_COC_PARAMS(INT, NUMBER, BOOL, TEXT, CHOICE)                                                      \
  CHOICE(CocMode, mode, inference, kCocModeNames, "inference | tree")                                          \
  INT(int, chunk_tokens, 512, between(1, 1000000), "approximate tokens per <para i> (§6(b))")                  \
  INT(int, questions, 1, between(1, 1000000), "inference: clarifying questions per round")                     \
  INT(int, max_rounds, 3, between(1, 1000000), "inference: rounds at most (§6(d))")                            \
  INT(int, width, 8, between(1, 1000000), "tree: questions per expanded node")                                 \
  INT(int, depth, 2, between(1, 1000000), "tree: expanded levels (root = depth 1)")                            \
  INT(int64_t, seed, 0, any_value(), "with the item id: paraphrase draws")                                     \
  TEXT(context_field, "context", ParamKind::string, non_empty(), "the input field holding the context")        \
  TEXT(system_prompt, "", ParamKind::string, any_value(), "\"\" = drawn from the built-in pool")               \
  NUMBER(inference_temperature, 0.6, at_least(0), "solver temperature in mode inference (§6(a2))")             \
  BOOL(judge_bonus, false, "tree: +1 when the verifier judges the answer right (§6(a1) 3.6)")                  \
  BOOL(node_pairs, true, "tree: per-node preference pairs (§6(e))")

struct CocTableParams {
  TROUPE_PARAM_FIELDS(TROUPE_COC_PARAMS)
};

const PipelineRules& coc_rules();
Result<CocTableParams> read_coc_params(const Workflow& wf);

}  // namespace troupe::workflows
