// IAD's descriptor, loader half (docs/adding-a-pipeline.md): name, roles
// and parameter table, from which the loader's checks and IadParams are
// generated. The runtime half is iad_pipeline() in iad.cpp.
#pragma once

#include <string>
#include <vector>

#include "workflows/pipeline_rules.hpp"

namespace troupe::workflows {

// iad: feedback rounds; no_feedback: the §3(d) ablation; best_of_n: the
// same N*(T+1) samples, scored, best kept.
enum class IadMode { iad, no_feedback, best_of_n };
inline const std::vector<std::string> kIadModeNames = {"iad", "no_feedback", "best_of_n"};
// judge: an LLM; exact: against the gold answer; command: a program.
enum class IadVerifier { judge, exact, command };
inline const std::vector<std::string> kIadVerifierNames = {"judge", "exact", "command"};

inline const char* const kIadFeedbackTemplate =
    "\n\nEarlier responses to this task were scored by a verifier (0 = worst, 1 = best).\n\n"
    "Best response so far (score {best_score}):\n{best}\n\n"
    "Worst response so far (score {worst_score}):\n{worst}\n\n"
    "{critique}"
    "Write a new response that surpasses the best response and avoids the mistakes of the worst one.";
inline const char* const kIadCritiqueTemplate = "A reviewer's critique of the best response:\n{critique}\n\n";

#define TROUPE_IAD_PARAMS(INT, NUMBER, BOOL, TEXT, CHOICE)                                                         \
  INT(int, candidates, 4, between(1, 1024), "N: solver samples per round")                                        \
  INT(int, rounds, 3, between(0, 1000), "T: feedback rounds after the first (N*(T+1) samples)")                   \
  CHOICE(IadMode, mode, iad, kIadModeNames, "iad | no_feedback | best_of_n")                                      \
  CHOICE(IadVerifier, verifier, judge, kIadVerifierNames, "judge | exact | command")                              \
  TEXT(verifier_command, "", ParamKind::program, any_value(), "verifier command: run with /bin/sh -c")            \
  NUMBER(verifier_timeout_s, 10, above(0), "command: killed after this (wall clock)")                              \
  NUMBER(verifier_cpu_s, 10, at_least(1), "command: RLIMIT_CPU")                                                  \
  INT(int64_t, verifier_memory_mb, 1024, between(16, 1048576), "command: RLIMIT_AS")                              \
  INT(int64_t, verifier_file_mb, 16, between(1, 1048576), "command: RLIMIT_FSIZE")                                \
  INT(int, verifier_processes, 32, between(1, 4096), "command: RLIMIT_NPROC (in a user namespace)")               \
  NUMBER(judge_scale, 10, above(0), "judge: \"Score: X/scale\"")                                                  \
  BOOL(critique, false, "v4: the critic's critique of the best response joins the feedback (mode iad)")         \
  NUMBER(max_score, 1.0, above_at_most(0, 1), "early stop when the best score reaches it")                        \
  BOOL(early_stop, true, "stop once max_score is reached")                                                        \
  INT(int64_t, seed, 0, any_value(), "per-round solver seeds derive from it and the item id")                     \
  TEXT(feedback_template, kIadFeedbackTemplate, ParamKind::string, any_value(), "the feedback block")             \
  TEXT(critique_template, kIadCritiqueTemplate, ParamKind::string, any_value(), "the critique inside it")

struct IadParams {
  TROUPE_PARAM_FIELDS(TROUPE_IAD_PARAMS)
  int judge_retries = 1;  // judge: re-asks for an unparsable score (roles.verifier.parse_retries)
};

const PipelineRules& iad_rules();
// The table's values only; iad_params() (iad.hpp) adds the checks across keys.
Result<IadParams> read_iad_params(const Workflow& wf);

}  // namespace troupe::workflows
