// Repairs for model-written FOL: the slips LLM translations make that gold
// FOL does not, recovered where the intended formula is unambiguous and
// refused, with the reason, where it is not. LINC's prover role applies it
// to every translation (Problem::repair) so that a sample with such a slip
// still votes; every change is listed so that a reader of the trajectory
// sees exactly what was decided on text the model did not write.
//
// What is repaired (in this order, per formula, and only in a formula that
// does not parse as written):
//   quotes   curly quotes (“New York”, ‘Tom’), backticks, and a
//            single-quoted name holding an apostrophe ('Tom's Diner') are
//            read as a quoted constant.
//   hyphen   a hyphen inside a name (New-York, Coca-Cola) is read as `_`
//            (New_York): `-` there cannot be negation.
//   list     an argument list written as a list, P([a, b]), is read as
//            P(a, b). A list beside other arguments (Likes(john, [a, b]):
//            each? any? a set?), an empty or nested list, a list outside
//            an argument list, and a list whose splice gives the predicate
//            another arity than its other uses have, are refused.
//   parens   a formula that ends early (the parse stops at the end of the
//            input, waiting for ')') gets the missing ')' appended; surplus
//            ')' at the very end are dropped. A surplus ')' elsewhere, or a
//            missing one where the parse stops before the end, is refused:
//            where the bracket belongs is not known.
// Then, over the whole problem, also for formulas that parsed as written:
//   constant when the quotes or hyphen repair was used, every quoted or
//            multi-word constant of the problem ("New York", 'New York',
//            New York, New-York) becomes one identifier (New_York), so the
//            spellings a model mixes name one constant.
//   arity    a predicate used with several arities becomes one symbol per
//            arity (Likes/1, Likes/2 -> Likes_1, Likes_2), as Prover9 keeps
//            name/arity pairs apart; likewise a function symbol.
//   predicate_as_constant
//            a name that is a predicate and also a constant (or function)
//            keeps its name as the predicate; the term becomes Name_c (or
//            Name_f<arity>).
// New names never collide with a name the problem already uses (a `_2`
// suffix is added until they do not).
//
// What callers may rely on:
// - A problem whose formulas all parse and have no symbol clash comes back
//   unchanged, byte for byte, with no repairs: gold FOL behaves exactly as
//   without this pass.
// - On success every returned formula parses with parse_fol(). A formula
//   that changed is returned as its repaired text: the original with the
//   text edits above, or, after a renaming, its NLTK rendering (to_string).
// - Each Repair names its kind (the words above), the symbol or text it is
//   about, where ("premise 2", "conclusion"; for problem-wide renamings the
//   first use) and what was done, in order of application.
// - A formula that cannot be repaired is an Error (ErrorCode::parse):
//   "premise 3: column 7: <the original parse error>; not repaired: <why>".
// - Never throws; input size is bounded only by the caller (each pass is
//   linear in the formula, and a formula is parsed at most twice).
#pragma once

#include <string>
#include <vector>

#include "common/error.hpp"

namespace troupe::prover {

struct Repair {
  std::string kind;    // quotes | hyphen | list | parens | constant | arity | predicate_as_constant
  std::string symbol;  // the name or text concerned
  std::string where;   // "premise 2", "conclusion"
  std::string detail;  // what was changed, e.g. "Likes/1 and Likes/2 renamed Likes_1, Likes_2"
};

struct RepairedFormulas {
  std::vector<std::string> premises;
  std::string conclusion;
  std::vector<Repair> repairs;  // empty: the input came back unchanged
};

Result<RepairedFormulas> repair_formulas(const std::vector<std::string>& premises, const std::string& conclusion);

}  // namespace troupe::prover
