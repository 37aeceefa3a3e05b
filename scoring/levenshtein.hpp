// Character-level string similarity as python-Levenshtein's ratio() defines
// it, which LeaP's router uses to compare peer summaries (pipelines.md §2(a)
// step 5). Pure functions on text, safe from any thread.
//
// Both functions compare Unicode code points decoded from UTF-8 (as Python
// compares str); a byte that is not valid UTF-8 counts as one code point of
// its own, so any input is accepted.
//
// indel_distance(a, b)   the fewest single-character insertions and
//                        deletions that turn a into b (a substitution costs
//                        2): len(a) + len(b) - 2 * LCS(a, b).
// levenshtein_ratio(a, b) (lensum - indel_distance) / lensum, where lensum =
//                        len(a) + len(b): 1.0 for equal strings (two empty
//                        strings included), 0.0 when no character is shared,
//                        symmetric in a and b. O(len(a) * len(b)) time,
//                        O(min(len)) memory.
// edit_distance(a, b)    the classic Levenshtein distance: the fewest
//                        single-character insertions, deletions and
//                        substitutions (each costs 1) that turn a into b.
//                        Case-sensitive; 0 for equal strings, symmetric.
//                        Same time and memory bounds.
#pragma once

#include <cstddef>
#include <string_view>

namespace troupe::scoring {

size_t indel_distance(std::string_view a, std::string_view b);
double levenshtein_ratio(std::string_view a, std::string_view b);
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace troupe::scoring
