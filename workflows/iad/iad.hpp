// IAD — Iterative Agent Decoding (pipelines.md §3): its parameters, and the
// verifier tools the runner spawns for `verifier: exact` and `verifier:
// command`. The pipeline itself is reached through the registry
// (iad_pipeline(): factory, role specs, the verifier tool roles).
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
#include "actors/roles.hpp"
#include "common/error.hpp"
#include "process/subprocess.hpp"
#include "workflows/iad/iad_descriptor.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

// IadParams (the parameter table) is in iad_descriptor.hpp. iad_params()
// adds the checks across keys and roles.verifier.parse_retries.
Result<IadParams> iad_params(const Workflow& wf);
// The roles' built-in prompts and sampling (solver, judge verifier, critic).
actors::RoleSpec iad_role_spec(const std::string& role);

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
