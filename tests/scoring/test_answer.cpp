// Answer extraction, normalisation and comparison (scoring/answer.hpp).
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "scoring/answer.hpp"

using namespace troupe::scoring;

TEST_CASE("extract_boxed returns the content of a boxed answer", "[answer]") {
  CHECK(extract_boxed("so the result is $\\boxed{42}$.") == "42");
  CHECK(extract_boxed("\\fbox{7}") == "7");
  CHECK(extract_boxed("\\boxed {  x+1 }") == "x+1");
}

TEST_CASE("extract_boxed keeps nested braces balanced", "[answer]") {
  CHECK(extract_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}");
  CHECK(extract_boxed("\\boxed{\\left\\{1, 2\\right\\}}") == "\\left\\{1, 2\\right\\}");
  CHECK(extract_boxed("\\boxed{a^{b^{c}}} tail") == "a^{b^{c}}");
}

TEST_CASE("extract_boxed takes the last of several boxed answers", "[answer]") {
  CHECK(extract_boxed("first \\boxed{1}, then \\boxed{2}, finally \\fbox{3}") == "3");
  CHECK(extract_boxed("\\fbox{3} and later \\boxed{4}") == "4");
  // A box nested in another belongs to it.
  CHECK(extract_boxed("\\boxed{\\boxed{5}+1}") == "\\boxed{5}+1");
}

TEST_CASE("extract_boxed skips an unclosed box for an earlier complete one", "[answer]") {
  CHECK(extract_boxed("\\boxed{12} ... \\boxed{13") == "12");
  CHECK_FALSE(extract_boxed("\\boxed{13").has_value());
}

TEST_CASE("extract_boxed reads the brace-less form", "[answer]") {
  CHECK(extract_boxed("$\\boxed 5$") == "5");
}

TEST_CASE("extract_boxed finds nothing when there is no box", "[answer]") {
  CHECK_FALSE(extract_boxed("").has_value());
  CHECK_FALSE(extract_boxed("the answer is 5").has_value());
  CHECK_FALSE(extract_boxed("\\boxedfoo{5}").has_value());
}

TEST_CASE("extract_final_answer prefers a boxed answer", "[answer]") {
  CHECK(extract_final_answer("Answer: 3\nso \\boxed{4}") == "4");
}

TEST_CASE("extract_final_answer reads answer lines, the last one winning", "[answer]") {
  CHECK(extract_final_answer("Final Answer: 12") == "12");
  CHECK(extract_final_answer("The answer is 7.") == "7");
  CHECK(extract_final_answer("answer: x = 2\nsome more\nAnswer: x = 3\n") == "x = 3");
  CHECK(extract_final_answer("The answer is 5.\nWait, no. Final Answer: 6") == "6");
  CHECK(extract_final_answer("**Final Answer:** 10") == "10");
  CHECK(extract_final_answer("The answer is: 9") == "9");
}

TEST_CASE("extract_final_answer reads the next line when the marker ends its line", "[answer]") {
  CHECK(extract_final_answer("Final Answer:\n\n  $17$\n") == "$17$");
}

TEST_CASE("extract_final_answer finds nothing without a marker", "[answer]") {
  CHECK_FALSE(extract_final_answer("").has_value());
  CHECK_FALSE(extract_final_answer("I think it's 5").has_value());
  CHECK_FALSE(extract_final_answer("Myanswer: 5").has_value());  // inside a word
  CHECK_FALSE(extract_final_answer("Answer:").has_value());
}

TEST_CASE("normalize_answer strips dollars, text wrappers, spaces and a final period", "[answer]") {
  CHECK(normalize_answer("  $42$ ") == "42");
  CHECK(normalize_answer("\\text{ yes }") == "yes");
  CHECK(normalize_answer("\\(x + 1\\)") == "x+1");
  CHECK(normalize_answer("x = 3.") == "x=3");
  CHECK(normalize_answer("\\boxed{\\text{(A)}}") == "(A)");
  CHECK(normalize_answer("1\\,000\\,000") == "1000000");
}

TEST_CASE("normalize_answer rewrites fraction and delimiter commands", "[answer]") {
  CHECK(normalize_answer("\\dfrac{1}{2}") == "\\frac{1}{2}");
  CHECK(normalize_answer("\\tfrac{3}{4}") == "\\frac{3}{4}");
  CHECK(normalize_answer("\\frac12") == "\\frac{1}{2}");
  CHECK(normalize_answer("\\left( 1, 2 \\right)") == "(1,2)");
  CHECK(normalize_answer("x \\rightarrow y") == "x\\rightarrowy");  // not \right
}

TEST_CASE("normalize_answer writes numbers canonically", "[answer]") {
  CHECK(normalize_answer("1,000") == "1000");
  CHECK(normalize_answer("1,234,567.50") == "1234567.5");
  CHECK(normalize_answer("2.50") == "2.5");
  CHECK(normalize_answer("3.0") == "3");
  CHECK(normalize_answer("+5") == "5");
  CHECK(normalize_answer(".5") == "0.5");
  CHECK(normalize_answer("-0.0") == "0");
  CHECK(normalize_answer("007") == "7");
  CHECK(normalize_answer("1,2") == "1,2");      // a list, not a thousands separator
  CHECK(normalize_answer("12,34") == "12,34");  // bad grouping
}

TEST_CASE("answers_match compares normalized forms", "[answer]") {
  CHECK(answers_match("$42$", "42"));
  CHECK(answers_match("\\text{(B)}", "(B)"));
  CHECK(answers_match("\\dfrac{1}{2}", "\\frac{1}{2}"));
  CHECK_FALSE(answers_match("x+1", "x+2"));
  CHECK_FALSE(answers_match("", ""));
}

TEST_CASE("answers_match treats equal numbers as equal", "[answer]") {
  CHECK(answers_match("1,000", "1000"));
  CHECK(answers_match("2.50", "2.5"));
  CHECK(answers_match("3.0", "3"));
  CHECK(answers_match("0.1", "0.10000000000001"));  // within 1e-9 relative
  CHECK_FALSE(answers_match("0.1", "0.1001"));
  CHECK(answers_match("-0", "0"));
}

TEST_CASE("answers_match treats a simple fraction and its decimal as equal", "[answer]") {
  CHECK(answers_match("\\frac{1}{2}", "0.5"));
  CHECK(answers_match("\\dfrac{3}{4}", "0.75"));
  CHECK(answers_match("1/4", "0.25"));
  CHECK(answers_match("-\\frac{1}{2}", "-0.5"));
  CHECK(answers_match("\\frac{-1}{2}", "-0.5"));
  CHECK(answers_match("2/4", "\\frac{1}{2}"));
  CHECK(answers_match("\\frac12", "0.5"));
  CHECK_FALSE(answers_match("1/3", "0.33"));
  CHECK_FALSE(answers_match("1/0", "0"));
}

TEST_CASE("answer_value reads decimals and simple fractions only", "[answer]") {
  CHECK(answer_value("1,000").value() == Approx(1000));
  CHECK(answer_value("\\frac{1}{8}").value() == Approx(0.125));
  CHECK_FALSE(answer_value("x").has_value());
  CHECK_FALSE(answer_value("\\frac{x}{2}").has_value());
  CHECK_FALSE(answer_value("1/2/3").has_value());
  CHECK_FALSE(answer_value("\\sqrt{2}").has_value());
}

namespace {

// Random strings over characters that matter to the parsers.
std::vector<std::string> random_answers(int count) {
  std::mt19937 rng(2024);
  const std::string alphabet = "0123456789.,-+/ ${}\\abcfrxtelighdo()[]\n";
  const char* words[] = {"\\frac", "\\dfrac", "\\text{", "\\boxed{", "\\left", "\\right", "\\,", "Answer:", "$"};
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    std::string s;
    int len = static_cast<int>(rng() % 24);
    for (int j = 0; j < len; ++j) {
      if (rng() % 5 == 0)
        s += words[rng() % (sizeof(words) / sizeof(words[0]))];
      else
        s += alphabet[rng() % alphabet.size()];
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("normalize_answer is idempotent", "[answer][property]") {
  for (const auto& s : random_answers(3000)) {
    INFO(s);
    std::string once = normalize_answer(s);
    CHECK(normalize_answer(once) == once);
  }
}

TEST_CASE("answers_match is reflexive for non-empty answers and symmetric", "[answer][property]") {
  auto answers = random_answers(600);
  for (size_t i = 0; i + 1 < answers.size(); ++i) {
    const auto& a = answers[i];
    const auto& b = answers[i + 1];
    INFO(a << " | " << b);
    if (!normalize_answer(a).empty()) CHECK(answers_match(a, a));
    CHECK(answers_match(a, b) == answers_match(b, a));
  }
}

TEST_CASE("extraction never fails on arbitrary text and returns a part of it", "[answer][property]") {
  for (const auto& s : random_answers(3000)) {
    INFO(s);
    if (auto boxed = extract_boxed(s)) CHECK(s.find(*boxed) != std::string::npos);
    if (auto answer = extract_final_answer(s)) CHECK(s.find(*answer) != std::string::npos);
    (void)answer_value(s);
  }
}
