// ProofResult as JSON, the one shape used by `troupe prove` output lines
// and by the prover's trajectory steps.
//
// What callers may rely on: proof_json() writes one JSON object with the
// keys id (raw JSON text given by the caller, omitted when empty), label,
// szs ([status for C, status for ¬C]; null for a call not run), error
// (null when none) and ms, then notes (only when there are some), repairs
// ([{kind, symbol, where, detail}]) and repaired ({premises, conclusion}:
// the formulas decided) only when fol_repair.hpp changed something, and,
// with `with_tptp`, the TPTP text sent to E.
#pragma once

#include <string>
#include <string_view>

#include "prover_bridge/prover.hpp"

namespace troupe::prover {

std::string proof_json(const ProofResult& r, std::string_view raw_id = {}, bool with_tptp = false);

}  // namespace troupe::prover
