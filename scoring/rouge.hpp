// ROUGE-L: the longest-common-subsequence overlap between a prediction and
// a reference, used by Chain-of-Clarifications (pipelines.md §6(a1) step 6)
// to score tree nodes against a gold answer. Pure functions on text, safe
// from any thread.
//
// Tokens: the input is lowercased (ASCII) and split into maximal runs of
// letters and digits (bytes >= 0x80 count as letters, so UTF-8 words stay
// whole); everything else separates tokens. "The cat's hat." -> the cat s hat.
//
// rouge_l(): lcs = length of the longest common subsequence of the token
// lists; precision = lcs / |prediction|, recall = lcs / |reference|,
// f1 = 2PR / (P + R). Any side without tokens, or no overlap, gives all
// zeros. Symmetric in f1; O(|prediction| * |reference|) time, linear memory.
//
// This is ROUGE-L over the whole text, not ROUGE-Lsum (which splits
// sentences and takes a union LCS); for the short answers CoC scores the two
// agree whenever the reference is one sentence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace troupe::scoring {

struct RougeScore {
  double precision = 0;
  double recall = 0;
  double f1 = 0;
};

std::vector<std::string> rouge_tokens(std::string_view text);
size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b);
RougeScore rouge_l(std::string_view prediction, std::string_view reference);

}  // namespace troupe::scoring
