// Levenshtein ratio as python-Levenshtein defines it: (lensum - indel
// distance) / lensum over code points. Expected values are worked out by
// hand in the comments (LCS = longest common subsequence).
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "scoring/levenshtein.hpp"

using troupe::scoring::indel_distance;
using troupe::scoring::levenshtein_ratio;

TEST_CASE("Levenshtein ratio: hand-computed values", "[levenshtein][leap]") {
  // kitten / sitting: LCS "ittn" = 4; lensum 13; indel 13 - 8 = 5; ratio 8/13.
  CHECK(indel_distance("kitten", "sitting") == 5);
  CHECK(levenshtein_ratio("kitten", "sitting") == Approx(8.0 / 13.0));
  // ab / ba: LCS 1; lensum 4; indel 2 (a substitution would be 2 too); ratio 2/4.
  CHECK(indel_distance("ab", "ba") == 2);
  CHECK(levenshtein_ratio("ab", "ba") == Approx(0.5));
  // abc / xyz: nothing shared.
  CHECK(levenshtein_ratio("abc", "xyz") == 0.0);
  // x = 42 / x = 24: LCS "x = 4" or "x = 2" = 5; lensum 12; ratio 10/12.
  CHECK(levenshtein_ratio("x = 42", "x = 24") == Approx(10.0 / 12.0));
  // A substitution costs two: "cat" / "cut": LCS 2, indel 2, ratio 4/6.
  CHECK(indel_distance("cat", "cut") == 2);
  CHECK(levenshtein_ratio("cat", "cut") == Approx(4.0 / 6.0));
}

TEST_CASE("Levenshtein ratio: empty and equal strings", "[levenshtein][leap]") {
  CHECK(levenshtein_ratio("", "") == 1.0);
  CHECK(levenshtein_ratio("abc", "") == 0.0);
  CHECK(levenshtein_ratio("", "abc") == 0.0);
  CHECK(levenshtein_ratio("same text", "same text") == 1.0);
  CHECK(indel_distance("", "abcd") == 4);
}

TEST_CASE("Levenshtein ratio counts code points, not bytes", "[levenshtein][leap]") {
  // "aé" is 2 code points (3 bytes), "é" one (2 bytes). Over code points:
  // LCS 1, lensum 3, ratio 2/3. Over bytes it would be LCS 2 of 5 = 0.8.
  CHECK(levenshtein_ratio("a\xC3\xA9", "\xC3\xA9") == Approx(2.0 / 3.0));
  CHECK(indel_distance("a\xC3\xA9", "\xC3\xA9") == 1);
  // "é" and "è" share the lead byte but are different characters.
  CHECK(levenshtein_ratio("\xC3\xA9", "\xC3\xA8") == 0.0);
  // Invalid UTF-8 is accepted: each stray byte is a character of its own.
  CHECK(levenshtein_ratio("\xFF" "a", "a") == Approx(2.0 / 3.0));
  CHECK(levenshtein_ratio("\xC3", "\xC3") == 1.0);
}

TEST_CASE("Levenshtein ratio is symmetric and within [0, 1]", "[levenshtein][leap]") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> len(0, 12), ch('a', 'd');
  for (int t = 0; t < 200; ++t) {
    std::string a, b;
    for (int i = len(rng); i > 0; --i) a.push_back(static_cast<char>(ch(rng)));
    for (int i = len(rng); i > 0; --i) b.push_back(static_cast<char>(ch(rng)));
    double r = levenshtein_ratio(a, b);
    CHECK(r == levenshtein_ratio(b, a));
    CHECK(r >= 0.0);
    CHECK(r <= 1.0);
    // The indel distance is at least the length difference and at most the sum.
    size_t d = indel_distance(a, b);
    CHECK(d >= (a.size() > b.size() ? a.size() - b.size() : b.size() - a.size()));
    CHECK(d <= a.size() + b.size());
    CHECK(indel_distance(a + b, a + b) == 0);
  }
}

TEST_CASE("edit distance: insertions, deletions and substitutions each cost one", "[levenshtein]") {
  using troupe::scoring::edit_distance;
  // kitten -> sitten (k/s) -> sittin (e/i) -> sitting (+g).
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("sitting", "kitten") == 3);
  // One substitution, where indel_distance counts two.
  CHECK(edit_distance("cat", "cut") == 1);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("same", "same") == 0);
  // Case matters; code points, not bytes: e-acute is one character.
  CHECK(edit_distance("Solver", "solver") == 1);
  CHECK(edit_distance("caf\xc3\xa9", "cafe") == 1);
  // A transposition is two edits.
  CHECK(edit_distance("ab", "ba") == 2);
}
