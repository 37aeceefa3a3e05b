// ROUGE-L F1 (scoring/rouge.hpp): tokens, LCS, and the scores CoC ranks
// tree nodes by.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "scoring/rouge.hpp"

using namespace troupe::scoring;

TEST_CASE("rouge tokens are lowercased runs of letters and digits", "[rouge]") {
  CHECK(rouge_tokens("The cat's HAT, 42x!") == std::vector<std::string>{"the", "cat", "s", "hat", "42x"});
  CHECK(rouge_tokens("  \n\t.,;") .empty());
  CHECK(rouge_tokens("caf\xc3\xa9 au lait") == std::vector<std::string>{"caf\xc3\xa9", "au", "lait"});
}

TEST_CASE("the LCS skips tokens but keeps their order", "[rouge]") {
  std::vector<std::string> a{"a", "b", "c", "d", "e"}, b{"a", "x", "c", "e", "b"};
  CHECK(lcs_length(a, b) == 3);  // a c e
  CHECK(lcs_length(b, a) == 3);
  CHECK(lcs_length(a, {}) == 0);
  CHECK(lcs_length({"x", "y"}, {"y", "x"}) == 1);
}

TEST_CASE("rouge_l: precision, recall and F1 from the LCS", "[rouge]") {
  // prediction 4 tokens, reference 3, LCS "the cat sat" = 3.
  auto s = rouge_l("the cat quietly sat", "The cat sat.");
  CHECK(s.precision == Approx(3.0 / 4));
  CHECK(s.recall == Approx(1.0));
  CHECK(s.f1 == Approx(2 * 0.75 / 1.75));
  // Identical texts score 1; disjoint or empty ones 0.
  CHECK(rouge_l("Paris", "paris").f1 == Approx(1.0));
  CHECK(rouge_l("Paris", "London").f1 == 0.0);
  CHECK(rouge_l("", "London").f1 == 0.0);
  CHECK(rouge_l("...", "").f1 == 0.0);
}

TEST_CASE("rouge_l F1 is symmetric and within [0, 1] (random texts)", "[rouge]") {
  std::mt19937 rng(7);
  const char* words[] = {"a", "b", "c", "d", "the", "cat"};
  for (int t = 0; t < 200; ++t) {
    std::string x, y;
    for (int i = 0, n = static_cast<int>(rng() % 8); i < n; ++i) x += std::string(words[rng() % 6]) + " ";
    for (int i = 0, n = static_cast<int>(rng() % 8); i < n; ++i) y += std::string(words[rng() % 6]) + " ";
    auto s = rouge_l(x, y);
    auto r = rouge_l(y, x);
    CHECK(s.f1 == Approx(r.f1));
    CHECK(s.precision == Approx(r.recall));
    CHECK(s.f1 >= 0.0);
    CHECK(s.f1 <= 1.0);
    // The LCS is bounded by the shorter text.
    auto tx = rouge_tokens(x), ty = rouge_tokens(y);
    CHECK(lcs_length(tx, ty) <= std::min(tx.size(), ty.size()));
  }
}
