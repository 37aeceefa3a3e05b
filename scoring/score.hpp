// A judge's numeric score, read from its free text (IAD's LLM-judge
// verifier, pipelines.md §3(a) step 2). Pure function, any thread.
//
// parse_score(text, scale) returns the score normalised to [0, 1], or
// nullopt when the text holds no usable score. The rule:
//  - Markers: the word "score", "rating" or "grade" (case-insensitive, a
//    whole word), then separators (spaces, ':' '=' '-' '*' '#' '`', an
//    optional "is" or "of"), then a number ("7", "7.5", "-1"); or a line
//    holding nothing but such a number (markdown and a trailing '.'
//    allowed). The LAST marker in the text decides.
//  - After the number, "/ N" or "out of N" names the scale; without it the
//    caller's `scale` applies. The result is number / scale.
//  - A number below 0 or above its scale, or a scale <= 0, makes that
//    marker unusable (the text reads as unparsable rather than as a clamped
//    score): "Score: 12/10" -> nullopt.
// Examples (scale 10): "Score: 8/10" -> 0.8; "**Score:** 7" -> 0.7;
// "Rating: 4 out of 5" -> 0.8; "I'd give it a score of 9." -> 0.9;
// "Score: X/10" -> nullopt; "" -> nullopt.
#pragma once

#include <optional>
#include <string_view>

namespace troupe::scoring {

std::optional<double> parse_score(std::string_view text, double scale);

}  // namespace troupe::scoring
