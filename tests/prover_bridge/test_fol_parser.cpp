// The FOL parser: both syntaxes, NLTK's precedence and quantifier scope,
// what LLMs write beyond NLTK, and errors that name position and token.
#include <catch2/catch.hpp>

#include "folio.hpp"
#include "prover_bridge/fol_parser.hpp"

using namespace troupe::prover;

namespace {

std::string parsed(const std::string& text) {
  auto r = parse_fol(text);
  if (!r.ok()) return "ERROR " + r.error().message;
  return to_string(r->formula);
}

std::string error_of(const std::string& text) {
  auto r = parse_fol(text);
  if (r.ok()) return "parsed as " + to_string(r->formula);
  return r.error().message;
}

}  // namespace

TEST_CASE("NLTK syntax: quantifiers, connectives and equality", "[fol]") {
  CHECK(parsed("all x. (Bird(x) & -Injured(x) -> Flies(x))") == "all x.(((Bird(x) & -Injured(x)) -> Flies(x)))");
  CHECK(parsed("exists x y. Loves(x, y)") == "exists x.(exists y.(Loves(x, y)))");
  CHECK(parsed("Bird(Tweety)") == "Bird(Tweety)");
  CHECK(parsed("a = b") == "(a = b)");
  CHECK(parsed("Father(Jon) != Jon") == "-(Father(Jon) = Jon)");
  CHECK(parsed("A <-> B | C") == "(A <-> (B | C))");
  CHECK(parsed("forall x. P(x) => Q(x)") == "all x.((P(x) -> Q(x)))");
}

TEST_CASE("NLTK precedence: - binds tightest, then & , |, ->, <->, binary operators group left", "[fol]") {
  CHECK(parsed("-P & Q") == "(-P & Q)");
  CHECK(parsed("P & Q | R") == "((P & Q) | R)");
  CHECK(parsed("P | Q & R") == "(P | (Q & R))");
  CHECK(parsed("P -> Q -> R") == "((P -> Q) -> R)");
  CHECK(parsed("P & Q -> R | S <-> T") == "(((P & Q) -> (R | S)) <-> T)");
  CHECK(parsed("-(P & Q)") == "-(P & Q)");
}

TEST_CASE("a quantifier's body extends as far right as possible, also under - and operators", "[fol]") {
  CHECK(parsed("all x. P(x) & Q(x)") == "all x.((P(x) & Q(x)))");
  CHECK(parsed("-all x. P(x) | Q(x)") == "-all x.((P(x) | Q(x)))");
  CHECK(parsed("A & exists x. P(x) | Q(x)") == "(A & exists x.((P(x) | Q(x))))");
  CHECK(parsed("(all x. P(x)) & Q(a)") == "(all x.(P(x)) & Q(a))");
}

TEST_CASE("FOLIO's Unicode syntax, without the dot after the variable", "[fol]") {
  CHECK(parsed("∀x (Dog(x) → Animal(x))") == "all x.((Dog(x) -> Animal(x)))");
  CHECK(parsed("∀x ∀y (GoodGuy(x) ∧ Fights(x, y) ⟷ BadGuy(y))") ==
        "all x.(all y.(((GoodGuy(x) & Fights(x, y)) <-> BadGuy(y))))");
  CHECK(parsed("∃x (Cat(x) ∧ ¬Black(x))") == "exists x.((Cat(x) & -Black(x)))");
  CHECK(parsed("A ∨ B ↔ C") == "((A | B) <-> C)");
  CHECK(parsed("a ≠ b") == "-(a = b)");
  CHECK(parsed("∀x Dog(x) → Animal(x)") == "all x.((Dog(x) -> Animal(x)))");
}

TEST_CASE("⊕ is exclusive or at the level of |", "[fol]") {
  CHECK(parsed("Engaged(bonnie) ⊕ Students(bonnie)") == "(Engaged(bonnie) ⊕ Students(bonnie))");
  CHECK(parsed("A ∧ B ⊕ C") == "((A & B) ⊕ C)");
}

TEST_CASE("names with digits, dots and apostrophes, lowercase constants, free u..z letters", "[fol]") {
  CHECK(parsed("ValuedAt(yalesendowment, y42.3billion)") == "ValuedAt(yalesendowment, y42.3billion)");
  CHECK(parsed("MatureCompanies’Stocks(kO)") == "MatureCompanies’Stocks(kO)");
  CHECK(parsed("Version(Python3.11)") == "Version(Python3.11)");
  auto r = parse_fol("Teaches(jerry, x)");
  REQUIRE(r.ok());
  CHECK(r->formula.args[0].kind == Term::Kind::constant);
  CHECK(r->formula.args[1].kind == Term::Kind::variable);
  CHECK(r->free_variables == std::vector<std::string>{"x"});
  auto y = parse_fol("BornIn(dani, y1995)");
  REQUIRE(y.ok());
  CHECK(y->formula.args[1].kind == Term::Kind::constant);
  CHECK(y->free_variables.empty());
  // A bound multi-letter variable is a variable.
  auto p = parse_fol("all person. Mortal(person)");
  REQUIRE(p.ok());
  CHECK(p->formula.sub[0].args[0].kind == Term::Kind::variable);
}

TEST_CASE("quoted strings and multi-word arguments are constants, a word may be predicate and constant", "[fol]") {
  CHECK(parsed("Says(John, \"hello world\")") == "Says(John, \"hello world\")");
  CHECK(parsed("BornIn(Dani Shapiro, New York)") == "BornIn(\"Dani Shapiro\", \"New York\")");
  CHECK(parsed("Rock(x) & Likes(Peter, Rock)") == "(Rock(x) & Likes(Peter, Rock))");
  CHECK(parsed("Bird(Tweety).") == "Bird(Tweety)");  // Prover9's closing period
}

TEST_CASE("a parse error names the column and the token", "[fol]") {
  CHECK(error_of("all x. (P(x) & Q(x)") == "column 20: expected ')' to close the '(' at column 8, found end of input");
  CHECK(error_of("P(x) & Q(x))") == "column 12: unbalanced ')': no '(' is open here, found ')'");
  CHECK(error_of("P(x) & & Q(x)") == "column 8: expected a formula, found '&'");
  CHECK(error_of("P(x, )") == "column 6: expected an argument (a variable, a constant or a term), found ')'");
  CHECK(error_of("∀x (P(x) → )") == "column 12: expected a formula, found ')'");
  CHECK(error_of("P(x) % Q") == "column 6: unexpected character '%'");
  CHECK(error_of("∀ (P(x))") == "column 3: expected a variable after '∀', found '('");
  CHECK(error_of("all x. x(y)") == "column 8: 'x' is a bound variable and cannot be used as a predicate, found name 'x'");
  CHECK(error_of("") == "column 1: expected a formula, found end of input");
  CHECK(error_of("P(a) Q(b)") == "column 6: expected an operator or the end of the formula, found name 'Q'");
  CHECK(error_of("\"unterminated") == "column 1: unterminated string starting with \"");
  CHECK(error_of(std::string("P(\xff)")) == "column 3: invalid UTF-8 byte 0xFF");
}

TEST_CASE("deep nesting is an error, not a stack overflow", "[fol]") {
  std::string deep(5000, '(');
  deep += "P";
  deep += std::string(5000, ')');
  CHECK(error_of(deep).find("nested more than 1000 levels") != std::string::npos);
  std::string chain = "P";
  for (int i = 0; i < 3000; ++i) chain += " & P";
  CHECK(error_of(chain).find("nested more than 1000 levels") != std::string::npos);
  std::string negs(3000, '-');
  CHECK(error_of(negs + "P").find("nested more than 1000 levels") != std::string::npos);
}

TEST_CASE("rendering reads back to the same formula (every FOLIO formula that parses)", "[fol]") {
  std::vector<std::string> formulas = {"all x. (Bird(x) & -Injured(x) -> Flies(x))", "Says(John, \"a, b\")",
                                       "P('say \"hi\"')",  "exists x y. (x != y)", "A ⊕ B ⊕ C",
                                       "Likes(x, New York)", "-all x. P(x) | Q(x)"};
  for (const auto& item : troupe::testing::load_folio()) {
    for (const auto& p : item.problem.premises) formulas.push_back(p);
    formulas.push_back(item.problem.conclusion);
  }
  int checked = 0;
  for (const auto& f : formulas) {
    auto once = parse_fol(f);
    if (!once.ok()) continue;
    std::string text = to_string(once->formula);
    auto again = parse_fol(text);
    INFO(f << " -> " << text);
    REQUIRE(again.ok());
    CHECK(to_string(again->formula) == text);
    ++checked;
  }
  CHECK(checked >= 7);
}
