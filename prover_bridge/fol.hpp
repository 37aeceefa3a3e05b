// First-order formulas as the FOL parser produces them and the TPTP emitter
// consumes them. Plain values: a Formula owns its subformulas and terms.
//
// What callers may rely on:
// - Names are kept exactly as written (a multi-word argument keeps its
//   single spaces, a quoted string its text without the quotes).
// - Every Term is already resolved: a `variable` is bound by an enclosing
//   quantifier, or is a free single letter u..z, which Prover9 would read
//   as a variable (the parser lists it in ParsedFormula::free_variables);
//   everything else is a `constant` or a
//   `function` application.
// - A tree is never deeper than kMaxDepth, so recursive walks are safe.
// - `column` is the 1-based position, counted in characters (Unicode code
//   points), of the node's first token in the text it was parsed from.
#pragma once

#include <string>
#include <vector>

namespace troupe::prover {

inline constexpr int kMaxDepth = 1000;

struct Term {
  enum class Kind { variable, constant, function };
  Kind kind = Kind::constant;
  std::string name;
  std::vector<Term> args;  // function only
  int column = 0;
};

struct Formula {
  enum class Kind { atom, equal, not_, and_, or_, implies, iff, xor_, forall, exists };
  Kind kind = Kind::atom;
  std::string name;          // atom: predicate; forall/exists: the bound variable
  std::vector<Term> args;    // atom: arguments; equal: the two sides
  std::vector<Formula> sub;  // not_: one; binary connectives: two; quantifiers: the body
  int column = 0;
};

// A readable rendering in NLTK syntax, fully parenthesised, that
// parse_fol() reads back to the same formula (constants that are not a
// single name are quoted; ⊕ stays ⊕): `all x.((Bird(x) -> Flies(x)))`.
std::string to_string(const Formula& f);
std::string to_string(const Term& t);

}  // namespace troupe::prover
