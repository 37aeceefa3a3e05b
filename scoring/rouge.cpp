#include "scoring/rouge.hpp"

#include <algorithm>

namespace troupe::scoring {
namespace {

bool word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c); }

}  // namespace

std::vector<std::string> rouge_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (unsigned char c : text) {
    if (word_byte(c)) {
      cur.push_back(lower(c));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const auto& longer = a.size() >= b.size() ? a : b;
  const auto& shorter = a.size() >= b.size() ? b : a;
  // row[j] = LCS of the prefix of `longer` seen so far and shorter[0, j).
  std::vector<size_t> prev(shorter.size() + 1, 0), row(shorter.size() + 1, 0);
  for (const auto& x : longer) {
    for (size_t j = 1; j <= shorter.size(); ++j)
      row[j] = x == shorter[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], row[j - 1]);
    std::swap(prev, row);
  }
  return prev[shorter.size()];
}

RougeScore rouge_l(std::string_view prediction, std::string_view reference) {
  auto p = rouge_tokens(prediction);
  auto r = rouge_tokens(reference);
  RougeScore s;
  if (p.empty() || r.empty()) return s;
  size_t lcs = lcs_length(p, r);
  if (lcs == 0) return s;
  s.precision = static_cast<double>(lcs) / static_cast<double>(p.size());
  s.recall = static_cast<double>(lcs) / static_cast<double>(r.size());
  s.f1 = 2 * s.precision * s.recall / (s.precision + s.recall);
  return s;
}

}  // namespace troupe::scoring
