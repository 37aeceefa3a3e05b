// LeaP's descriptor, loader half (docs/adding-a-pipeline.md): name, roles
// and parameter table, from which the loader's checks and LeapParams are
// generated (defaults as in pipelines.md §2(b)). The runtime half is
// leap_pipeline() in leap.cpp.
#pragma once

#include <string>
#include <vector>

#include "workflows/pipeline_rules.hpp"

namespace troupe::workflows {

// §2(a) step 5: which peers a path hears.
enum class LeapRouter { dispersed, clustered, hybrid, random };
inline const std::vector<std::string> kLeapRouterNames = {"dispersed", "clustered", "hybrid", "random"};
// leap: an untrained LRM, prompted with the LeaP block; leap_t: a LeaP-T model.
enum class LeapMode { leap, leap_t };
inline const std::vector<std::string> kLeapModeNames = {"leap", "leap_t"};

#define TROUPE_LEAP_PARAMS(INT, NUMBER, BOOL, TEXT, CHOICE)                                                   \
  INT(int, paths, 4, at_least(1), "N: paths, sampled in one call over a shared prefix")                      \
  INT(int64_t, segment_tokens, 2048, at_least(1), "T: tokens per segment")                                   \
  INT(int, max_turns, 5, at_least(1), "M: segments, so M-1 LeaP blocks")                                     \
  INT(int64_t, summary_tokens, 256, at_least(1), "a summary's length cap")                                   \
  INT(int64_t, answer_tokens, 256, at_least(1), "the forced answer's length cap")                            \
  INT(int, top_k, 2, at_least_not_zero(-1), "peers per receiver; -1 = all other active paths")               \
  CHOICE(LeapRouter, router, dispersed, kLeapRouterNames, "dispersed | clustered | hybrid | random")         \
  CHOICE(LeapMode, mode, leap, kLeapModeNames, "leap (untrained LRM) | leap_t (a LeaP-T model)")            \
  INT(int64_t, seed, 0, any_value(), "triggers and random routing")                                          \
  BOOL(finish_on_eos, false, "stop extending a path that hit EOS (the reference code does not)")            \
  TEXT(answer_prefix, "", ParamKind::string, any_value(), "before the forced answer (\"\" = the MATH one)")  \
  TEXT(instruction, "", ParamKind::string, any_value(), "after the question (\"\" = the LeaP block / CoT)")  \
  TEXT(prefill, "", ParamKind::string, any_value(), "mode leap: the assistant's recap (\"\" = built-in)")    \
  BOOL(pairs, true, "record preference pairs (with a gold answer)")

struct LeapParams {
  TROUPE_PARAM_FIELDS(TROUPE_LEAP_PARAMS)
};

const PipelineRules& leap_rules();
// The table's values only; leap_params() (leap.hpp) adds the checks across keys.
Result<LeapParams> read_leap_params(const Workflow& wf);

}  // namespace troupe::workflows
