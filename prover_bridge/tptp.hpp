// TPTP FOF for the E prover, from parsed formulas.
//
// What callers may rely on:
// - Variables are upper-case TPTP variables (x -> X; a name bound again
//   inside its own scope gets a suffix); free u..z variables are closed
//   universally, as Prover9 reads them, and a note says so.
// - Predicates, functions and constants keep their name with the first
//   letter lower-cased when that gives a TPTP lower word (TalentShows ->
//   talentShows); any other name is single-quoted with ' and \ escaped and
//   non-ASCII characters written as _uXXXX_ (E reads ASCII only).
// - A name used with two meanings (a predicate and a constant, or a
//   predicate with 1 and with 2 arguments: an arity clash, which E rejects)
//   becomes two distinct symbols; every such case is reported in `notes`
//   with where each use first appears.
// - Every binary connective is parenthesised (E rejects `a & b => c`); ⊕ is
//   expanded to ((A & ~B) | (~A & B)) as LINC does, except that an ⊕ whose
//   operand holds another ⊕ is written with TPTP's <~> (the same meaning)
//   so the text grows linearly, never exponentially.
#pragma once

#include <string>
#include <vector>

#include "common/error.hpp"
#include "prover_bridge/fol_parser.hpp"

namespace troupe::prover {

struct TptpProblem {
  std::string axioms;      // fof(premise_1, axiom, ...). one per premise
  std::string conjecture;  // fof(goal, conjecture, C).
  std::string negated;     // fof(goal, conjecture, ~ (C)).
  std::vector<std::string> notes;

  std::string prove_text() const { return axioms + conjecture; }   // premises ⊢ C
  std::string refute_text() const { return axioms + negated; }     // premises ⊢ ¬C
};

// The formulas must come from parse_fol(). Never fails for parsed input.
TptpProblem to_tptp(const std::vector<ParsedFormula>& premises, const ParsedFormula& conclusion);

// Parses every formula and emits the problem. A parse error names the
// formula: "premise 3: column 7: expected ')' ..., found ','" or
// "conclusion: ...".
Result<TptpProblem> translate(const std::vector<std::string>& premises, const std::string& conclusion);

}  // namespace troupe::prover
