// Reading a verifier's final Yes/No (scoring/verdict.hpp).
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "scoring/verdict.hpp"

using namespace troupe::scoring;

TEST_CASE("a labelled verdict is read", "[verdict]") {
  CHECK(parse_verdict("The steps check out.\nVerdict: Yes") == Verdict::yes);
  CHECK(parse_verdict("Verdict: No") == Verdict::no);
  CHECK(parse_verdict("**Verdict:** YES") == Verdict::yes);
  CHECK(parse_verdict("Final verdict - incorrect.") == Verdict::no);
  CHECK(parse_verdict("Answer: No, the sign is wrong in step 2.") == Verdict::no);
  CHECK(parse_verdict("Verdict: Yes, every step holds.") == Verdict::yes);
  CHECK(parse_verdict("Verdict:\n**No**") == Verdict::no);
  CHECK(parse_verdict("Judgement: Correct") == Verdict::yes);
  CHECK(parse_verdict("Verdict: not correct") == Verdict::no);
}

TEST_CASE("a sentence stating the answer is correct or incorrect counts", "[verdict]") {
  CHECK(parse_verdict("I rechecked everything. The answer is correct.") == Verdict::yes);
  CHECK(parse_verdict("So the answer is incorrect.") == Verdict::no);
}

TEST_CASE("the last verdict marker wins", "[verdict]") {
  CHECK(parse_verdict("No, wait... Verdict: Yes") == Verdict::yes);
  CHECK(parse_verdict("Verdict: Yes\nHmm, step 3 divides by zero.\nVerdict: No") == Verdict::no);
  CHECK(parse_verdict("Answer: No\n\\boxed{Yes}") == Verdict::yes);
  CHECK(parse_verdict("\\boxed{Yes}\nActually not.\nNo") == Verdict::no);
}

TEST_CASE("words inside sentences do not count", "[verdict]") {
  CHECK(parse_verdict("There is no error. Verdict: No") == Verdict::no);
  CHECK(parse_verdict("There is no error.") == Verdict::unknown);
  CHECK(parse_verdict("Answer: no mistake was made") == Verdict::unknown);
  CHECK(parse_verdict("Yes, I think the computation is fine") == Verdict::unknown);
  CHECK(parse_verdict("The answer is not obvious.") == Verdict::unknown);
  CHECK(parse_verdict("The answer is no longer valid") == Verdict::unknown);
  CHECK(parse_verdict("verdicts: yes") == Verdict::unknown);  // not the whole word
}

TEST_CASE("an echoed Yes/No template is not a verdict", "[verdict]") {
  CHECK(parse_verdict("End with Verdict: Yes/No") == Verdict::unknown);
  CHECK(parse_verdict("Please answer Verdict: Yes/No.\nVerdict: No") == Verdict::no);
}

TEST_CASE("a boxed verdict is read", "[verdict]") {
  CHECK(parse_verdict("\\boxed{Yes}") == Verdict::yes);
  CHECK(parse_verdict("so $\\boxed{\\text{No}}$") == Verdict::no);
  CHECK(parse_verdict("\\fbox{Correct}") == Verdict::yes);
  CHECK(parse_verdict("\\boxed{42}") == Verdict::unknown);
}

TEST_CASE("a line that is only a verdict word is read, punctuation tolerated", "[verdict]") {
  CHECK(parse_verdict("Checking step 1... fine.\nYes") == Verdict::yes);
  CHECK(parse_verdict("Checking...\n  **No.**  \n") == Verdict::no);
  CHECK(parse_verdict("The sum is off by one.\nIncorrect!") == Verdict::no);
  CHECK(parse_verdict("correct") == Verdict::yes);
  CHECK(parse_verdict("wrong") == Verdict::no);
  CHECK(parse_verdict("> \"yes\"") == Verdict::yes);
}

TEST_CASE("an answered correctness question is read", "[verdict]") {
  CHECK(parse_verdict("Is the most recent final answer correct (Yes or No)? No") == Verdict::no);
  CHECK(parse_verdict("Is the most recent final answer correct (Yes or No)? Yes.") == Verdict::yes);
  CHECK(parse_verdict("Is the answer correct?\nYes") == Verdict::yes);
}

TEST_CASE("an answer to a question about errors is left ambiguous", "[verdict]") {
  CHECK(parse_verdict("Are there any errors? No.") == Verdict::unknown);
  CHECK(parse_verdict("Did I make a mistake?\nNo") == Verdict::unknown);
  CHECK(parse_verdict("Did I make a mistake?\nNo\nVerdict: Yes") == Verdict::yes);
}

TEST_CASE("text without a verdict is unknown", "[verdict]") {
  CHECK(parse_verdict("") == Verdict::unknown);
  CHECK(parse_verdict("   \n\n") == Verdict::unknown);
  CHECK(parse_verdict("The solution computes 2+2=4 and boxes it.") == Verdict::unknown);
  CHECK(parse_verdict("Nothing to say. Knowing this, notably...") == Verdict::unknown);
}

TEST_CASE("verdicts print as yes, no and unknown", "[verdict]") {
  CHECK(std::string(to_string(Verdict::yes)) == "yes");
  CHECK(std::string(to_string(Verdict::no)) == "no");
  CHECK(std::string(to_string(Verdict::unknown)) == "unknown");
}

TEST_CASE("verdict parsing never fails on arbitrary text", "[verdict][property]") {
  std::mt19937 rng(7);
  const char* pieces[] = {"Verdict", ":", " ", "\n", "yes", "No", "?", "\\boxed{", "}", "*", "error", "correct",
                          "in", "is ", ".", ",", "\xE2\x80\x94", "answer", "\\text{", "x"};
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    int len = static_cast<int>(rng() % 16);
    for (int j = 0; j < len; ++j) s += pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
    INFO(s);
    Verdict v = parse_verdict(s);
    CHECK((v == Verdict::yes || v == Verdict::no || v == Verdict::unknown));
  }
}
