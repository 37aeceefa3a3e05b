// The FOL parser: one formula in NLTK/Prover9 syntax or FOLIO's Unicode
// syntax (see fol_lexer.hpp for the tokens) -> a Formula.
//
// Grammar and precedence follow NLTK's logic parser, which LINC uses:
// tightest first  - (not), = and != (between terms), & , | and ⊕ , -> , <->.
// Binary operators group to the left (`a -> b -> c` is `(a -> b) -> c`, as
// in NLTK). A quantifier's body extends as far to the right as possible
// (`all x. P(x) & Q(x)` quantifies both conjuncts); the dot after the
// variables is optional (FOLIO writes `∀x (P(x) → Q(x))`), and several
// variables may follow one quantifier (`exists x y.`). ⊕ is exclusive or;
// the emitter expands it.
//
// Beyond NLTK, as LLM output and FOLIO need: names may contain digits, dots
// between characters (`y42.3billion`) and apostrophes; a lowercase
// multi-letter name is a constant (no capitalisation needed); a name may be
// both a predicate and a constant (the emitter keeps them apart); quoted
// strings and multi-word arguments (`Born(Dani Shapiro, "New York")`) are
// constants; a trailing Prover9 period is accepted.
//
// Names resolve as they would for NLTK+Prover9: a name bound by an
// enclosing quantifier is a variable; a free single letter u..z is a free
// variable (Prover9 reads those as universally quantified; they are listed
// in free_variables; unlike Prover9, `y1995` stays a constant, as FOLIO
// means it); every other name is a constant.
//
// What callers may rely on: parse_fol() never throws and never crashes on
// any input (it is fuzzed); it returns a Formula or an Error
// (ErrorCode::parse) whose message is "column N: <what>, found <token>",
// naming the position (1-based, in characters) and the offending token.
// Nesting deeper than kMaxDepth is an error, not a stack overflow.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "prover_bridge/fol.hpp"

namespace troupe::prover {

struct ParsedFormula {
  Formula formula;
  std::vector<std::string> free_variables;  // in order of first use
};

Result<ParsedFormula> parse_fol(std::string_view text);

}  // namespace troupe::prover
