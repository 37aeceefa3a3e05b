// The repair pass for model-written FOL (fol_repair.hpp): each kind of slip
// -> the repaired formula text and the recorded repair; refusals that say
// why; gold FOL untouched; and through decide(), a repaired problem is
// decided like the formula it was meant to be.
#include <catch2/catch.hpp>

#include "folio.hpp"
#include "prover_bridge/fol_parser.hpp"
#include "prover_bridge/fol_repair.hpp"
#include "prover_bridge/result_json.hpp"

using namespace troupe::prover;

namespace {

RepairedFormulas repaired(const std::vector<std::string>& premises, const std::string& conclusion) {
  auto r = repair_formulas(premises, conclusion);
  if (!r.ok()) FAIL("refused: " << r.error().message);
  for (const auto& p : r->premises) CHECK(parse_fol(p).ok());
  CHECK(parse_fol(r->conclusion).ok());
  return *r;
}

std::string refusal(const std::vector<std::string>& premises, const std::string& conclusion) {
  auto r = repair_formulas(premises, conclusion);
  if (r.ok()) return "repaired";
  return r.error().message;
}

std::string kinds(const RepairedFormulas& r) {
  std::string out;
  for (const auto& x : r.repairs) out += (out.empty() ? "" : ",") + x.kind;
  return out;
}

}  // namespace

TEST_CASE("repair: a formula that ended early gets its ')' appended, surplus ')' at the end are dropped", "[fol][repair]") {
  auto r = repaired({"all x. (Bird(x) & -Injured(x) -> CanFly(x)", "Bird(Tweety)"}, "CanFly(Tweety)");
  CHECK(r.premises[0] == "all x. (Bird(x) & -Injured(x) -> CanFly(x))");
  CHECK(r.premises[1] == "Bird(Tweety)");
  REQUIRE(r.repairs.size() == 1);
  CHECK(r.repairs[0].kind == "parens");
  CHECK(r.repairs[0].where == "premise 1");
  CHECK(r.repairs[0].detail == "1 missing ')' appended at the end");

  r = repaired({"∀x (P(x) → (Q(x) ∧ R(x"}, "P(a)");
  CHECK(r.premises[0] == "∀x (P(x) → (Q(x) ∧ R(x)))");
  CHECK(r.repairs.at(0).detail == "3 missing ')' appended at the end");

  r = repaired({"P(a)"}, "(Spill(peter) ∧ OnlyChild(peter)) ∨ ¬Spill(peter) ∧ ¬OnlyChild(peter)) )");
  CHECK(r.conclusion == "(Spill(peter) ∧ OnlyChild(peter)) ∨ ¬Spill(peter) ∧ ¬OnlyChild(peter)");
  CHECK(r.repairs.at(0).where == "conclusion");
  CHECK(r.repairs.at(0).detail == "2 surplus ')' dropped at the end");

  r = repaired({"Bird(Tweety))."}, "Bird(Tweety)");  // Prover9's period stays
  CHECK(r.premises[0] == "Bird(Tweety).");
}

TEST_CASE("repair: a bracket whose place is not known is refused, saying why", "[fol][repair]") {
  // The parse stops inside the formula, not at its end.
  CHECK(refusal({"all x. (Bird(x) & -Injured(x -> CanFly(x))"}, "P(a)") ==
        "premise 1: column 30: expected ',' or ')' in the arguments of 'Injured' (opened at column 27), found '->'; "
        "not repaired: a '(' is never closed, and the parse stops before the end of the formula: where the ')' belongs is not known");
  // A ')' that closes nothing in the middle.
  CHECK(refusal({"P(a)"}, "P(a)) & (Q(a)") ==
        "conclusion: column 5: unbalanced ')': no '(' is open here, found ')'; not repaired: the ')' at column 5 closes nothing "
        "and is not at the end: a '(' is missing, and where is not known");
  // Not a bracket problem at all (FOLIO line 88: a comma for ∧).
  CHECK(refusal({"∀x ∀y (SuperheroMovie(x), NamedAfter(x, y) → GoodGuy(y))"}, "P(a)").find("; not repaired: a '(' is never closed") ==
        std::string::npos);
  CHECK(refusal({"P(a) Q(b)"}, "P(a)") ==
        "premise 1: column 6: expected an operator or the end of the formula, found name 'Q'; not repaired: no repair applies");
}

TEST_CASE("repair: curly-quoted, backticked and hyphenated constants become one identifier everywhere", "[fol][repair]") {
  auto r = repaired({"LivesIn(“Ann Lee”, “New York”)", "all x. (LivesIn(x, \"New York\") -> Happy(x))"}, "Happy('Ann Lee')");
  CHECK(r.premises[0] == "LivesIn(Ann_Lee, New_York)");
  CHECK(r.premises[1] == "all x.((LivesIn(x, New_York) -> Happy(x)))");
  CHECK(r.conclusion == "Happy(Ann_Lee)");
  CHECK(kinds(r) == "quotes,quotes,constant,constant");
  CHECK(r.repairs[0].symbol == "Ann Lee");
  CHECK(r.repairs[0].detail == "“Ann Lee” read as the quoted constant \"Ann Lee\"");
  CHECK(r.repairs[2].detail == "the constant \"Ann Lee\" written Ann_Lee in every formula");

  r = repaired({"Drinks(Jean-Luc, `Earl Grey`)"}, "Drinks(Jean_Luc, Earl_Grey)");
  CHECK(r.premises[0] == "Drinks(Jean_Luc, Earl_Grey)");
  CHECK(r.conclusion == "Drinks(Jean_Luc, Earl_Grey)");  // already an identifier: unchanged
  CHECK(kinds(r) == "quotes,hyphen,constant");
  CHECK(r.repairs[1].detail == "Jean-Luc read as the name Jean_Luc");

  // A single-quoted name with an apostrophe, and ’ used as an apostrophe.
  r = repaired({"Serves('Tom's Diner', Coffee)", "Owns(Tom’s_Father, ‘Tom's Diner’)"}, "Serves(\"Tom's Diner\", Coffee)");
  CHECK(r.premises[0] == "Serves(Tom's_Diner, Coffee)");
  CHECK(r.premises[1] == "Owns(Tom’s_Father, Tom's_Diner)");
  CHECK(r.conclusion == "Serves(Tom's_Diner, Coffee)");

  // Negation and implication next to names are not hyphens.
  r = repaired({"all x.-P(x)->Q(x) & Hyphen-Name(a"}, "Q(a)");
  CHECK(r.premises[0] == "all x.-P(x)->Q(x) & Hyphen_Name(a)");

  CHECK(refusal({"P(“New York)"}, "P(a)").find("not repaired: the quote “ opened here is never closed") != std::string::npos);
}

TEST_CASE("repair: an argument list written as a list is spliced, any other list is refused", "[fol][repair]") {
  auto r = repaired({"Sisters([Anna, Bea])", "all x y. (Sisters(x, y) -> Sisters(y, x))"}, "Sisters(Bea, Anna)");
  CHECK(r.premises[0] == "Sisters(Anna, Bea)");
  CHECK(r.premises[1] == "all x y. (Sisters(x, y) -> Sisters(y, x))");
  REQUIRE(r.repairs.size() == 1);
  CHECK(r.repairs[0].kind == "list");
  CHECK(r.repairs[0].symbol == "Sisters");
  CHECK(r.repairs[0].detail == "Sisters([Anna, Bea]) read as Sisters(Anna, Bea): the list is the whole argument list");

  CHECK(refusal({"Likes(John, [Apples, Oranges])"}, "Likes(John, Apples)") ==
        "premise 1: column 13: unexpected character '['; not repaired: a list beside other arguments of 'Likes': "
        "whether it means each, any or all of its elements is not written");
  CHECK(refusal({"Likes([John, Apples, Oranges])"}, "Likes(John, Apples)") ==
        "premise 1: not repaired: the list in Likes([...]) would give Likes 3 arguments, but it has 2 arguments elsewhere: "
        "what the list stands for is not known");
  CHECK(refusal({"P([])"}, "P(a)").find("not repaired: an empty list as the argument of 'P'") != std::string::npos);
  CHECK(refusal({"P([a, [b]])"}, "P(a)").find("not repaired: a list inside a list") != std::string::npos);
  CHECK(refusal({"[P(a), Q(b)]"}, "P(a)").find("not repaired: a list that is not an argument list") != std::string::npos);
}

TEST_CASE("repair: a predicate with two arities becomes one symbol per arity", "[fol][repair]") {
  auto r = repaired({"all x. (Teaches(x) -> Busy(x))", "Teaches(Ann, Math)"}, "Teaches(Ann)");
  CHECK(r.premises[0] == "all x.((Teaches_1(x) -> Busy(x)))");
  CHECK(r.premises[1] == "Teaches_2(Ann, Math)");
  CHECK(r.conclusion == "Teaches_1(Ann)");
  REQUIRE(r.repairs.size() == 1);
  CHECK(r.repairs[0].kind == "arity");
  CHECK(r.repairs[0].symbol == "Teaches");
  CHECK(r.repairs[0].where == "premise 1");
  CHECK(r.repairs[0].detail ==
        "Teaches/1 (premise 1, column 9) and Teaches/2 (premise 2, column 1) renamed Teaches_1, Teaches_2");
  // A new name never takes one already used.
  r = repaired({"Likes(a)", "Likes(a, b)", "Likes_1(c)"}, "Likes(b)");
  CHECK(r.premises[0] == "Likes_1_2(a)");
  CHECK(r.premises[2] == "Likes_1(c)");
}

TEST_CASE("repair: a name used as a predicate and as a constant keeps the predicate, the constant is renamed", "[fol][repair]") {
  auto r = repaired({"all x. (Rock(x) -> Hard(x))", "Likes(Peter, Rock)"}, "Likes(Peter, Rock) & Rock(Stone)");
  CHECK(r.premises[0] == "all x. (Rock(x) -> Hard(x))");  // no renamed symbol in it: as written
  CHECK(r.premises[1] == "Likes(Peter, Rock_c)");
  CHECK(r.conclusion == "(Likes(Peter, Rock_c) & Rock(Stone))");
  REQUIRE(r.repairs.size() == 1);
  CHECK(r.repairs[0].kind == "predicate_as_constant");
  CHECK(r.repairs[0].detail ==
        "Rock is a predicate (premise 1, column 9) and a term; the constant Rock (premise 2, column 14) renamed Rock_c");
}

TEST_CASE("repair: formulas that parse and clash nowhere come back byte for byte, with no repairs", "[fol][repair]") {
  std::vector<std::string> premises = {"∀x (P(x) → Q(x))", "  Likes(\"New York\", Tom) ", "all x. (R(x) -> -S(x))."};
  auto r = repaired(premises, "exists x. Q(x)");
  CHECK(r.premises == premises);
  CHECK(r.conclusion == "exists x. Q(x)");
  CHECK(r.repairs.empty());
  // Every FOLIO gold problem that parses and has one meaning per name.
  auto items = troupe::testing::load_folio();
  if (items.empty()) {
    WARN("FOLIO data not found at " + troupe::testing::folio_path() + ": FOLIO part skipped (needs ../shared)");
    return;
  }
  int unchanged = 0, repaired_gold = 0;
  for (const auto& item : items) {
    auto rr = repair_formulas(item.problem.premises, item.problem.conclusion);
    if (rr.ok() && rr->repairs.empty()) {
      CHECK(rr->premises == item.problem.premises);
      CHECK(rr->conclusion == item.problem.conclusion);
      ++unchanged;
    } else if (rr.ok()) {
      ++repaired_gold;
    }
  }
  // The 4 with a surplus ')' at the end are repaired; the rest are as written.
  CHECK(repaired_gold >= 4);
  CHECK(unchanged + repaired_gold >= 203);
}

TEST_CASE("decide() with repair: the repairs and the decided formulas are in the result", "[fol][repair][eprover]") {
  if (!check_eprover("eprover").ok()) {
    WARN("eprover not installed: skipped (sudo apt-get install eprover)");
    return;
  }
  Problem p;
  p.premises = {"all x. (Bird(x) -> Flies(x)", "Bird(“Tweety Bird”)"};
  p.conclusion = "Flies('Tweety Bird')";
  ProverOptions o;
  o.cpu_limit_s = 1;
  ProofResult before = decide(p, o);
  CHECK(before.label == "Error");
  CHECK(before.repairs.empty());
  p.repair = true;
  ProofResult after = decide(p, o);
  CHECK(after.label == "True");
  REQUIRE(after.repairs.size() == 3);  // parens, quotes, constant
  CHECK(after.repaired.premises.at(0) == "all x. (Bird(x) -> Flies(x))");
  std::string json = proof_json(after);
  CHECK(json.find("\"repairs\":[{\"kind\":\"parens\",\"symbol\":\"\",\"where\":\"premise 1\",\"detail\":\"1 missing ')' appended at the end\"}") !=
        std::string::npos);
  CHECK(json.find("\"repaired\":{\"premises\":[\"all x. (Bird(x) -> Flies(x))\",\"Bird(Tweety_Bird)\"],\"conclusion\":\"Flies(Tweety_Bird)\"}") !=
        std::string::npos);
  // A refusal is an Error that says why.
  p.premises[0] = "all x. (Bird(x) -> Flies(x)))) & (Q(x)";
  ProofResult refused = decide(p, o);
  CHECK(refused.label == "Error");
  CHECK(refused.error.find("parse: premise 1: column ") == 0);
  CHECK(refused.error.find("; not repaired: ") != std::string::npos);
}
