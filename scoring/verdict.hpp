// A verifier's final Yes/No, read from its free text. Used by SPOC-style
// loops to decide whether a solution was accepted. Pure function, any thread.
//
// The rule: collect every verdict marker in the text; the LAST one (by the
// position of its verdict word) decides. No marker -> Verdict::unknown.
// Matching is case-insensitive; markdown emphasis (* _ `), quotes and
// brackets around the word are ignored.
//
// Verdict words: "yes", "correct"            -> yes
//                "no", "incorrect", "wrong",
//                "not correct"               -> no
//
// A verdict word must END ITS CLAUSE: after it (and any closing markdown,
// quotes or brackets) comes the end of the text, a line break, or one of
// . , ! ; : - (so "Verdict: Yes, the steps hold" counts, while
// "Answer: no mistake" and the template echo "Verdict: Yes/No" do not).
//
// Markers:
//  1. labelled: "verdict", "answer", "judgment"/"judgement", "conclusion" or
//     "decision" (a whole word), then separators (spaces, line breaks,
//     ':' '=' '-' '#' '>' markdown, an optional "is"), then a verdict word:
//     "Verdict: Yes", "**Answer:** No.", "The answer is correct.",
//     "Final verdict - INCORRECT".
//  2. boxed: \boxed{Yes}, \boxed{\text{No}}, \fbox{Correct}.
//  3. an answered question on the same line: "Is the answer correct
//     (Yes or No)? No".
//  4. a line holding nothing but a verdict word (plus markdown, quotes,
//     brackets, trailing . ! ,): "Yes", "**No.**", "Incorrect!".
// Markers 3 and 4 are ignored when the question they answer (the sentence
// ending in '?' just before the word) asks about an error, mistake, flaw or
// something wrong/incorrect: there "No" would mean the solution is right, so
// such an answer is left ambiguous rather than misread.
//
// Words inside sentences never count on their own: "There is no error.
// Verdict: No" -> no; "No, wait... Verdict: Yes" -> yes; "" -> unknown.
#pragma once

#include <string_view>

namespace troupe::scoring {

enum class Verdict { yes, no, unknown };

const char* to_string(Verdict v);  // "yes" | "no" | "unknown"

Verdict parse_verdict(std::string_view text);

}  // namespace troupe::scoring
