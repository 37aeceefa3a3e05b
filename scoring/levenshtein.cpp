#include "scoring/levenshtein.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace troupe::scoring {
namespace {

// Decodes UTF-8 into code points; an invalid byte becomes 0x110000 + byte,
// a value no valid code point takes, so it compares equal only to itself.
std::vector<uint32_t> code_points(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    int extra = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xE ? 2 : (b >> 3) == 0x1E ? 3 : -1;
    uint32_t cp = extra == 0 ? b : extra == 1 ? (b & 0x1F) : extra == 2 ? (b & 0x0F) : (b & 0x07);
    bool ok = extra >= 0 && i + static_cast<size_t>(extra) < s.size();
    for (int k = 1; ok && k <= extra; ++k) {
      auto c = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((c >> 6) != 0x2) ok = false;
      else cp = (cp << 6) | (c & 0x3F);
    }
    if (!ok) {
      out.push_back(0x110000u + b);
      i += 1;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

// Length of the longest common subsequence, one DP row at a time over the
// shorter string.
size_t lcs_length(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  const auto& longer = a.size() >= b.size() ? a : b;
  const auto& shorter = a.size() >= b.size() ? b : a;
  std::vector<size_t> prev(shorter.size() + 1, 0), cur(shorter.size() + 1, 0);
  for (uint32_t x : longer) {
    for (size_t j = 1; j <= shorter.size(); ++j)
      cur[j] = x == shorter[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[shorter.size()];
}

}  // namespace

size_t indel_distance(std::string_view a, std::string_view b) {
  auto ca = code_points(a), cb = code_points(b);
  return ca.size() + cb.size() - 2 * lcs_length(ca, cb);
}

double levenshtein_ratio(std::string_view a, std::string_view b) {
  auto ca = code_points(a), cb = code_points(b);
  size_t lensum = ca.size() + cb.size();
  if (lensum == 0) return 1.0;
  size_t dist = lensum - 2 * lcs_length(ca, cb);
  return static_cast<double>(lensum - dist) / static_cast<double>(lensum);
}

size_t edit_distance(std::string_view a, std::string_view b) {
  auto ca = code_points(a), cb = code_points(b);
  const auto& longer = ca.size() >= cb.size() ? ca : cb;
  const auto& shorter = ca.size() >= cb.size() ? cb : ca;
  std::vector<size_t> prev(shorter.size() + 1), cur(shorter.size() + 1);
  for (size_t j = 0; j <= shorter.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= longer.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= shorter.size(); ++j) {
      size_t subst = prev[j - 1] + (longer[i - 1] == shorter[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[shorter.size()];
}

}  // namespace troupe::scoring
