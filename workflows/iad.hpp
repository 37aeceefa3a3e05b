// IAD — Iterative Agent Decoding (pipelines.md §3): its parameters, and the
// verifier tools the runner spawns for `verifier: exact` and `verifier:
// command`. The pipeline itself is reached through the registry
// (pipelines.hpp: iad_factory, iad_role_spec, iad_tool_role).
//
// What callers may rely on: iad_params() checks every value against the
// others (e.g. `critique` needs mode iad, `command` needs verifier_command)
// and names the workflow file, line and column of a bad one. The tool
// functions never throw for anything a model or a command does; each
// returns one candidate whose `answer` is the score as a decimal in [0, 1]
// ("1", "0.5"), whose `verdict` is 1 when that score reaches max_score and
// 0 otherwise, and whose `text` is a one-line JSON record of the check.
#pragma once

#include <string>

#include "actors/messages.hpp"
#include "common/error.hpp"
#include "process/subprocess.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

struct IadParams {
  int candidates = 4;  // N per round
  int rounds = 3;      // T feedback rounds after the first: N*(T+1) solver samples
  std::string mode = "iad";  // iad | no_feedback | best_of_n
  std::string verifier = "judge";  // judge | exact | command
  std::string verifier_command;    // command: run with /bin/sh -c
  double verifier_timeout_s = 10;  // command: killed after this (wall clock)
  // command: the sandbox's limits (prover_bridge/subprocess.hpp, docs/iad.md).
  double verifier_cpu_s = 10;      // RLIMIT_CPU
  int64_t verifier_memory_mb = 1024;  // RLIMIT_AS
  int64_t verifier_file_mb = 16;      // RLIMIT_FSIZE
  int verifier_processes = 32;        // RLIMIT_NPROC (inside a user namespace)
  double judge_scale = 10;         // judge: "Score: X/scale"
  int judge_retries = 1;           // judge: re-asks for an unparsable score (roles.verifier.parse_retries)
  bool critique = false;           // v4: the critic's critique of y_best joins the feedback
  double max_score = 1.0;          // early stop when the best score reaches it
  bool early_stop = true;
  int64_t seed = 0;                // per-round solver seeds derive from it and the item id
  std::string feedback_template =
      "\n\nEarlier responses to this task were scored by a verifier (0 = worst, 1 = best).\n\n"
      "Best response so far (score {best_score}):\n{best}\n\n"
      "Worst response so far (score {worst_score}):\n{worst}\n\n"
      "{critique}"
      "Write a new response that surpasses the best response and avoids the mistakes of the worst one.";
  std::string critique_template = "A reviewer's critique of the best response:\n{critique}\n\n";
};

Result<IadParams> iad_params(const Workflow& wf);

// The score formatted as the feedback and the tools write it: up to three
// significant digits, no trailing zeros ("1", "0.75", "0.333").
std::string iad_format_score(double score);

// verifier: exact. Task vars: `answer` (the candidate's extracted final
// answer) and `gold`. Score 1 when scoring::answers_match(answer, gold).
actors::RoleOutput iad_exact_check(const actors::RoleTask& task, double max_score);

// verifier: command. Runs `/bin/sh -c COMMAND troupe-iad ANSWER GOLD
// QUESTION` with the candidate's full text (`solution`) on stdin, in the
// process runner's sandbox (cleared environment, rlimits, a private working
// folder, PID and network namespaces where the kernel allows; see
// prover_bridge/subprocess.hpp), killed with everything it started after
// timeout_s or as soon as the run's cancel flag is set. Score: the fraction
// of stdout lines that start with PASS among those that start with PASS or
// FAIL; with no such line, 1 for exit status 0 and 0 otherwise; 0 on a
// timeout. A cancelled run gets ok=false with error_code cancelled. It
// blocks the calling thread until the command ends or is killed.
actors::RoleOutput iad_command_check(const actors::RoleTask& task, const std::string& command, double timeout_s,
                                     double max_score, const process::Sandbox& sandbox);
process::Sandbox iad_command_sandbox(const IadParams& p);

}  // namespace troupe::workflows
