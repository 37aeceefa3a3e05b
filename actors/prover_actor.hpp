// The prover role: LINC's "prover actor" (pipelines.md §5(a) step 4). It
// speaks the role contract (RoleTask -> RoleOutput), so a pipeline calls it
// like any role and the run director records each answer as a step.
//
// Task variables: `translation` (a model's TEXT:/FOL: lines; all FOL lines
// but the last are the premises, the last is the conclusion) or, without
// it, `premises` (one formula per line) and `conclusion`.
//
// A translation is model output: its formulas go through the repair pass
// (prover_bridge/fol_repair.hpp) before they are decided; `premises` and
// `conclusion` are taken as written.
//
// The reply has one candidate: `answer` is the label (True, False,
// Uncertain or Error), `text` a JSON record of what was decided —
// {"fol": {"premises": [...], "conclusion": ...} (as the model wrote them)
// or null when the FOL lines could not be found, "result": {label, szs,
// error, ms, notes, repairs, repaired, tptp}}, where `repairs` lists each
// repair made and `repaired` the formulas decided (both only when a repair
// was made) —
// and `finish` is "stop", or "error" for an Error label. A translation that
// does not parse, or a prover that fails, is an Error label with its
// reason, never a failed call: RoleOutput.ok stays true and calls stays 0
// (no model call was made).
//
// What callers may rely on: the prover subprocesses run on the Prover's
// own threads (prover_bridge/prover.hpp); their results are posted back to
// this actor, so no CAF scheduler thread ever waits on E. Requests are
// answered in any order, each exactly once.
#pragma once

#include <memory>

#include "actors/roles.hpp"
#include "prover_bridge/prover.hpp"

namespace troupe::actors {

role_actor spawn_prover_role(caf::actor_system& sys, std::shared_ptr<prover::Prover> prover);

}  // namespace troupe::actors
