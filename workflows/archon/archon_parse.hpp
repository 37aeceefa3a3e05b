// Archon (pipelines.md §4): readers for what Archon's components write, and
// the deterministic final choice. Pure functions of their text arguments;
// safe from any thread. Used by workflows/archon.cpp and by its tests.
//
// What callers may rely on:
// - split_critiques(): the critic's text split at "[digits]" markers and
//   regrouped so that each critique is one piece containing "strengths:"
//   (case-insensitive); a "[n]" inside a critique (a cross-reference) stays
//   in that critique; text before the first critique is dropped. The caller
//   compares the count with the candidates and re-asks on a mismatch.
// - parse_ranking(): a complete permutation of 0..n-1 (0-based) whenever n
//   > 0, from the bracketed indices on the ranking line (the first line that
//   holds one; "Answer:" is the expected lead). Ranges "[1]-[3]" and "[1-3]"
//   expand in the order written (descending ranges too); indices out of
//   1..n are dropped; repeats keep their first position; indices never
//   named are appended in original order. `parsed` is false when no index
//   was found (the order is then the original one); `repairs` says what was
//   fixed, in words, for the step record.
// - parse_verdict_tag(): the LAST "[Correct]" or "[Incorrect]" in the text
//   (case-insensitive): 1, 0, or -1 when neither occurs.
// - parse_unit_tests(): the strings of a Python-style list ("[...]" with
//   single- or double-quoted items, backslash escapes); when the text holds
//   no such list, its "- " / "* " / "1." bullet lines. Empty items dropped.
// - parse_unit_test_results(): for tests 1..count, the LAST
//   "Unit Test #i: [Passed]" / "[Failed]" line for each i; nullopt for a
//   test with no line.
// - seeded_choice(): an index in [0, n) that depends only on (seed,
//   item_id, n): FNV-1a of the item id mixed with the seed through
//   std::mt19937_64 (whose output the standard fixes), modulo n.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::workflows::archon {

std::vector<std::string> split_critiques(std::string_view text);

struct Ranking {
  std::vector<size_t> order;  // 0-based, a permutation of 0..n-1
  bool parsed = false;
  std::vector<std::string> repairs;
};
Ranking parse_ranking(std::string_view text, size_t n);

int parse_verdict_tag(std::string_view text);

std::vector<std::string> parse_unit_tests(std::string_view text);

std::vector<std::optional<bool>> parse_unit_test_results(std::string_view text, size_t count);

size_t seeded_choice(int64_t seed, std::string_view item_id, size_t n);

}  // namespace troupe::workflows::archon
