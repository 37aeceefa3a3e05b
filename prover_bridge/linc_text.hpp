// LINC's translation format (pipelines.md §5(a) steps 2–3): the model
// writes `TEXT:\t<sentence>` / `FOL:\t<formula>` line pairs, one per
// premise and then one for the conclusion.
//
// What callers may rely on: extract_fol_lines() takes every line that
// contains "FOL:" (the text after it, trimmed) up to an optional
// </EVALUATE>; all but the last are the premises, the last is the
// conclusion. No FOL line at all, or an empty formula, is an Error
// (ErrorCode::parse) that says which.
#pragma once

#include <string_view>

#include "common/error.hpp"
#include "prover_bridge/prover.hpp"

namespace troupe::prover {

Result<Problem> extract_fol_lines(std::string_view translation);

}  // namespace troupe::prover
