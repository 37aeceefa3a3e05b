// Reading a judge's numeric score (scoring/score.hpp).
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "scoring/score.hpp"

using troupe::scoring::parse_score;

TEST_CASE("parse_score reads labelled scores and normalises by the written scale", "[score]") {
  CHECK(parse_score("Looks right.\nScore: 8/10", 10) == Approx(0.8));
  CHECK(parse_score("**Score:** 7", 10) == Approx(0.7));
  CHECK(parse_score("Rating: 4 out of 5", 10) == Approx(0.8));
  CHECK(parse_score("I'd give it a score of 9.", 10) == Approx(0.9));
  CHECK(parse_score("The score is 3 / 4", 10) == Approx(0.75));
  CHECK(parse_score("Grade - 2.5", 5) == Approx(0.5));
  CHECK(parse_score("SCORE=10/10", 10) == Approx(1.0));
}

TEST_CASE("parse_score: the last marker decides, and a bare number line counts", "[score]") {
  CHECK(parse_score("Score: 2/10 at first glance... on reflection\nScore: 6/10", 10) == Approx(0.6));
  CHECK(parse_score("Some reasoning.\n**7/10**", 10) == Approx(0.7));
  CHECK(parse_score("Some reasoning.\n9", 10) == Approx(0.9));
  // A later unusable marker makes the text unparsable rather than falling back.
  CHECK_FALSE(parse_score("Score: 7/10\nScore: 12/10", 10).has_value());
}

TEST_CASE("parse_score rejects text without a usable score", "[score]") {
  CHECK_FALSE(parse_score("", 10).has_value());
  CHECK_FALSE(parse_score("Score: X/10", 10).has_value());
  CHECK_FALSE(parse_score("This is a great answer with 3 steps.", 10).has_value());
  CHECK_FALSE(parse_score("Score: 11", 10).has_value());
  CHECK_FALSE(parse_score("Score: -1", 10).has_value());
  CHECK_FALSE(parse_score("Score: 3/0", 10).has_value());
  CHECK_FALSE(parse_score("scores: 7th place", 10).has_value());  // "scores" is not the word, 7th not a number
}

TEST_CASE("parse_score on random text never reads outside [0, 1]", "[score]") {
  // Text made of the pieces a score is built from, in random order.
  const std::vector<std::string> pieces = {"Score", "score", "rating", ":", " ", "\n", "/", "out of ", "of ", "is ",
                                           "-", ".", "*", "7", "10", "0", "3.5", "x", "\xff", "1e9", "99999999999999999999"};
  std::mt19937 rng(12345);
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) text += pieces[rng() % pieces.size()];
    double scale = (rng() % 3 == 0) ? 1.0 : 10.0;
    auto s = parse_score(text, scale);
    if (s) {
      INFO(text);
      CHECK(*s >= 0.0);
      CHECK(*s <= 1.0);
    }
  }
}
