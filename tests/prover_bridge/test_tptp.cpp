// TPTP emission: E's syntax rules (uppercase variables, lower-case or
// quoted symbols, full parenthesisation), symbols kept apart, and every
// emitted problem accepted by E itself.
#include <catch2/catch.hpp>

#include "prover_bridge/prover.hpp"
#include "process/subprocess.hpp"
#include "prover_bridge/tptp.hpp"

using namespace troupe::prover;
using namespace troupe::process;

namespace {

TptpProblem tptp(std::vector<std::string> premises, std::string conclusion) {
  auto r = translate(premises, conclusion);
  if (!r.ok()) FAIL(r.error().describe());
  return *r;
}

bool have_eprover() { return check_eprover("eprover").ok(); }

// E's verdict on a problem text (the SZS word, or its complaint).
std::string e_says(const std::string& text) {
  ChildSpec spec{"eprover", eprover_args(2), text, 10};
  auto r = run_children({spec}).at(0);
  auto k = r.out.rfind("SZS status ");
  if (k == std::string::npos) return "no status: " + r.err;
  return r.out.substr(k + 11, r.out.find('\n', k) - k - 11);
}

}  // namespace

TEST_CASE("variables become uppercase, symbols lower-case, every connective bracketed", "[tptp]") {
  auto p = tptp({"all x. (Bird(x) & -Injured(x) -> Flies(x))", "Bird(Tweety)", "-Injured(Tweety)"}, "Flies(Tweety)");
  CHECK(p.axioms ==
        "fof(premise_1, axiom, (! [X] : ((bird(X) & ~ injured(X)) => flies(X)))).\n"
        "fof(premise_2, axiom, bird(tweety)).\n"
        "fof(premise_3, axiom, ~ injured(tweety)).\n");
  CHECK(p.conjecture == "fof(goal, conjecture, flies(tweety)).\n");
  CHECK(p.negated == "fof(goal, conjecture, ~ flies(tweety)).\n");
  CHECK(p.notes.empty());
}

TEST_CASE("names that are not TPTP words are quoted, non-ASCII is spelled out", "[tptp]") {
  auto p = tptp({"ValuedAt(yalesendowment, y42.3billion)", "BornIn(Dani Shapiro, \"New York\")",
                 "MatureCompanies’Stocks(kO)"},
                "ValuedAt(yalesendowment, y42.3billion)");
  CHECK(p.axioms.find("valuedAt(yalesendowment, 'y42.3billion')") != std::string::npos);
  CHECK(p.axioms.find("bornIn('Dani Shapiro', 'New York')") != std::string::npos);
  CHECK(p.axioms.find("'MatureCompanies_u2019_Stocks'(kO)") != std::string::npos);
}

TEST_CASE("a word used as predicate and constant, and an arity clash, become distinct symbols with a note", "[tptp]") {
  auto p = tptp({"all x. (Rock(x) -> Hard(x))", "Likes(Peter, Rock)", "Likes(Peter)"}, "Hard(Rock)");
  CHECK(p.axioms.find("likes(peter, rock_c)") != std::string::npos);
  CHECK(p.axioms.find("likes_p1(peter)") != std::string::npos);
  REQUIRE(p.notes.size() == 2);
  CHECK(p.notes[0] ==
        "arity clash: 'Likes' is used as a predicate with 2 arguments (premise 2, column 1) and as a predicate with "
        "1 argument (premise 3, column 1); kept apart as likes, likes_p1");
  CHECK(p.notes[1] ==
        "'Rock' is used as a predicate with 1 argument (premise 1, column 9) and as a constant (premise 2, column 14); "
        "kept apart as rock, rock_c");
}

TEST_CASE("⊕ expands as LINC's ((A & ~B) | (~A & B)), nested ⊕ uses <~> so size stays linear", "[tptp]") {
  auto p = tptp({}, "A ⊕ B");
  CHECK(p.conjecture == "fof(goal, conjecture, ((a & ~ b) | (~ a & b))).\n");
  auto q = tptp({}, "(A ⊕ B) ⊕ C");
  CHECK(q.conjecture == "fof(goal, conjecture, (((a & ~ b) | (~ a & b)) <~> c)).\n");
  std::string chain = "P0";
  for (int i = 1; i < 200; ++i) chain += " ⊕ P" + std::to_string(i);
  auto r = tptp({}, chain);
  CHECK(r.conjecture.size() < 10000);
}

TEST_CASE("free u..z letters are closed universally, with a note, shadowed variables are renamed", "[tptp]") {
  auto p = tptp({"Mortal(x)"}, "all x. (P(x) & exists x. Q(x))");
  CHECK(p.axioms == "fof(premise_1, axiom, (! [X] : mortal(X))).\n");
  CHECK(p.conjecture == "fof(goal, conjecture, (! [X] : (p(X) & (? [X_2] : q(X_2))))).\n");
  REQUIRE(p.notes.size() == 1);
  CHECK(p.notes[0] == "premise 1: free variable x read as universally quantified (as Prover9 does)");
}

TEST_CASE("parse errors name the formula", "[tptp]") {
  auto r = translate({"P(a)", "P(b) & "}, "P(c)");
  REQUIRE(!r.ok());
  CHECK(r.error().message == "premise 2: column 8: expected a formula, found end of input");
  auto c = translate({"P(a)"}, "(P(c)");
  REQUIRE(!c.ok());
  CHECK(c.error().message == "conclusion: column 6: expected ')' to close the '(' at column 1, found end of input");
}

TEST_CASE("E accepts what the emitter writes (mixed &, =>, quoting, clashes, equality)", "[tptp][eprover]") {
  if (!have_eprover()) {
    WARN("eprover not installed: skipped (sudo apt-get install eprover)");
    return;
  }
  auto p = tptp({"all x. (Rock(x) & Big(x) -> Heavy(x))", "Rock(Rock) & Big(Rock)", "Likes(Peter, Rock)",
                 "Likes(Peter)", "∀x (P(x) ⊕ Q(x))", "Father(Jon) = Sam", "BornIn(Dani Shapiro, y42.3billion)"},
                "Heavy(Rock)");
  CHECK(e_says(p.prove_text()) == "Theorem");
  CHECK(e_says(p.refute_text()) == "CounterSatisfiable");
}
