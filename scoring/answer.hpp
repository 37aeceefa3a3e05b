// Final-answer extraction and comparison for math-style outputs, used by
// verifiers (exact-answer checks) and for accuracy. Pure functions on text:
// no allocation beyond the returned strings, no locale, safe from any thread.
//
// extract_boxed()        the content of the LAST well-formed \boxed{...} or
//                        \fbox{...} (nested braces balanced; "\{" and "\}"
//                        are literal braces); also the brace-less "\boxed 5".
//                        An unclosed \boxed{ (a truncated output) is skipped
//                        in favour of an earlier complete one.
// extract_final_answer() extract_boxed(), else the text after the last
//                        "Final Answer:", "The answer is" or "Answer:"
//                        (case-insensitive, not inside a longer word) up to
//                        the end of its line (the next non-empty line when
//                        the marker ends its line), without markdown '*',
//                        a leading ':' or a trailing '.'; else nullopt.
// normalize_answer()     a canonical form for comparison: trimmed; '$',
//                        \( \) and \[ \] wrappers removed; a wrapping
//                        \text{}, \textbf{}, \mathrm{} or \boxed{} removed;
//                        \dfrac and \tfrac -> \frac, \frac12 -> \frac{1}{2};
//                        \left and \right removed; all whitespace and LaTeX
//                        spacing (\, \; \: \!) removed; a trailing '.'
//                        removed; a plain decimal number written canonically
//                        ("1,000" -> "1000", "2.50" -> "2.5", "3.0" -> "3",
//                        "+5" -> "5", ".5" -> "0.5", "-0" -> "0"). Thousands
//                        commas are removed only when correctly grouped, so
//                        "1,2" (a list) stays as it is.
// answers_match()        true when the normalized forms are equal, or both
//                        sides are numbers (decimal, "p/q" or \frac{p}{q},
//                        optionally negative) equal within 1e-9 relative.
//                        An empty answer matches nothing, not even another
//                        empty one.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace troupe::scoring {

std::optional<std::string> extract_boxed(std::string_view text);
std::optional<std::string> extract_final_answer(std::string_view text);
std::string normalize_answer(std::string_view answer);
bool answers_match(std::string_view a, std::string_view b);

// The value of a normalized-or-raw answer that is a number: a decimal, a
// simple fraction "p/q" or "\frac{p}{q}" (p, q decimals, q != 0), optionally
// with a leading '-'. nullopt for anything else.
std::optional<double> answer_value(std::string_view answer);

}  // namespace troupe::scoring
