// Readers for Archon's component outputs (see archon_parse.hpp).
#include "workflows/archon/archon_parse.hpp"
#include "common/hash.hpp"

#include <algorithm>
#include <cctype>
#include <random>

namespace troupe::workflows::archon {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads digits at s[i..]; advances i. Returns nullopt when none (or too many).
std::optional<size_t> read_number(std::string_view s, size_t& i) {
  size_t start = i, v = 0;
  while (i < s.size() && is_digit(s[i])) {
    if (i - start >= 9) return std::nullopt;
    v = v * 10 + static_cast<size_t>(s[i] - '0');
    ++i;
  }
  if (i == start) return std::nullopt;
  return v;
}

void skip_spaces(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

bool is_dash(std::string_view s, size_t i) { return i < s.size() && s[i] == '-'; }

// One bracketed item at s[i] == '[': "[n]" or "[a-b]". On success advances i
// past ']' and returns (first, last); a plain index has first == last.
std::optional<std::pair<size_t, size_t>> read_bracket(std::string_view s, size_t& i) {
  size_t j = i + 1;
  skip_spaces(s, j);
  auto a = read_number(s, j);
  if (!a) return std::nullopt;
  skip_spaces(s, j);
  size_t b = *a;
  if (is_dash(s, j)) {
    ++j;
    skip_spaces(s, j);
    auto x = read_number(s, j);
    if (!x) return std::nullopt;
    b = *x;
    skip_spaces(s, j);
  }
  if (j >= s.size() || s[j] != ']') return std::nullopt;
  i = j + 1;
  return std::make_pair(*a, b);
}

// The bracketed indices of one line, ranges expanded in the order written.
std::vector<size_t> line_indices(std::string_view line, std::vector<std::string>& repairs) {
  std::vector<size_t> out;
  auto expand = [&](size_t a, size_t b) {
    if (a != b) repairs.push_back("expanded range [" + std::to_string(a) + "-" + std::to_string(b) + "]");
    if (a <= b)
      for (size_t k = a; k <= b && k - a < 1000; ++k) out.push_back(k);
    else
      for (size_t k = a; k >= b && a - k < 1000; --k) out.push_back(k);
  };
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] != '[') {
      ++i;
      continue;
    }
    size_t at = i;
    auto item = read_bracket(line, i);
    if (!item) {
      i = at + 1;
      continue;
    }
    size_t a = item->first, b = item->second;
    // "[1]-[3]": a range written as two brackets joined by a dash.
    size_t j = i;
    skip_spaces(line, j);
    if (a == b && is_dash(line, j) && !(j + 1 < line.size() && line[j + 1] == '>')) {
      size_t k = j + 1;
      skip_spaces(line, k);
      if (k < line.size() && line[k] == '[') {
        size_t m = k;
        auto end = read_bracket(line, m);
        if (end && end->first == end->second) {
          b = end->first;
          i = m;
        }
      }
    }
    expand(a, b);
  }
  return out;
}

}  // namespace

std::vector<std::string> split_critiques(std::string_view text) {
  // Pieces between "[digits]" markers, each with the marker before it.
  struct Piece {
    std::string marker, body;
  };
  std::vector<Piece> pieces;
  size_t i = 0, start = 0, marker_at = 0;
  bool seen_marker = false;
  while (i < text.size()) {
    if (text[i] == '[') {
      size_t j = i + 1;
      auto n = read_number(text, j);
      if (n && j < text.size() && text[j] == ']') {
        if (seen_marker)
          pieces.push_back({std::string(text.substr(marker_at, start - marker_at)), std::string(text.substr(start, i - start))});
        seen_marker = true;
        marker_at = i;
        start = j + 1;
        i = j + 1;
        continue;
      }
    }
    ++i;
  }
  if (seen_marker) pieces.push_back({std::string(text.substr(marker_at, start - marker_at)), std::string(text.substr(start))});
  // Regroup: a piece with "strengths:" opens a critique; others (a "[n]"
  // mentioned inside a critique) continue the current one, marker included.
  std::vector<std::string> out;
  for (const auto& p : pieces) {
    if (lower(p.body).find("strengths:") != std::string::npos) out.push_back(p.body);
    else if (!out.empty()) out.back() += p.marker + p.body;
  }
  for (auto& c : out) c = trim(c);
  return out;
}

Ranking parse_ranking(std::string_view text, size_t n) {
  Ranking r;
  std::vector<size_t> named;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::vector<std::string> repairs;
    auto idx = line_indices(text.substr(pos, end - pos), repairs);
    if (!idx.empty()) {
      named = std::move(idx);
      r.repairs = std::move(repairs);
      r.parsed = true;
      break;
    }
    pos = end + 1;
  }
  std::vector<bool> used(n, false);
  for (size_t k : named) {
    if (k < 1 || k > n) {
      r.repairs.push_back("dropped out-of-range [" + std::to_string(k) + "]");
      continue;
    }
    if (used[k - 1]) {
      r.repairs.push_back("dropped repeated [" + std::to_string(k) + "]");
      continue;
    }
    used[k - 1] = true;
    r.order.push_back(k - 1);
  }
  for (size_t k = 0; k < n; ++k)
    if (!used[k]) {
      if (r.parsed) r.repairs.push_back("appended missing [" + std::to_string(k + 1) + "]");
      r.order.push_back(k);
    }
  return r;
}

int parse_verdict_tag(std::string_view text) {
  std::string t = lower(text);
  size_t c = t.rfind("[correct]");
  size_t i = t.rfind("[incorrect]");
  if (c == std::string::npos && i == std::string::npos) return -1;
  if (c == std::string::npos) return 0;
  if (i == std::string::npos) return 1;
  return c > i ? 1 : 0;
}

std::vector<std::string> parse_unit_tests(std::string_view text) {
  std::vector<std::string> out;
  size_t open = text.find('[');
  size_t close = text.rfind(']');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    std::string_view body = text.substr(open + 1, close - open - 1);
    size_t i = 0;
    while (i < body.size()) {
      char q = body[i];
      if (q != '"' && q != '\'') {
        ++i;
        continue;
      }
      std::string item;
      size_t j = i + 1;
      bool closed = false;
      while (j < body.size()) {
        char c = body[j];
        if (c == '\\' && j + 1 < body.size()) {
          char e = body[j + 1];
          item.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
          j += 2;
          continue;
        }
        if (c == q) {
          closed = true;
          break;
        }
        item.push_back(c);
        ++j;
      }
      if (!closed) break;
      std::string t = trim(item);
      if (!t.empty()) out.push_back(t);
      i = j + 1;
    }
    if (!out.empty()) return out;
  }
  // No list: bullet or numbered lines.
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    std::string item;
    if (line.rfind("- ", 0) == 0 || line.rfind("* ", 0) == 0) {
      item = trim(line.substr(2));
    } else {
      size_t k = 0;
      while (k < line.size() && is_digit(line[k])) ++k;
      if (k > 0 && k + 1 < line.size() && (line[k] == '.' || line[k] == ')') && line[k + 1] == ' ')
        item = trim(line.substr(k + 2));
    }
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<std::optional<bool>> parse_unit_test_results(std::string_view text, size_t count) {
  std::vector<std::optional<bool>> out(count);
  std::string t = lower(text);
  const std::string marker = "unit test #";
  size_t pos = 0;
  while ((pos = t.find(marker, pos)) != std::string::npos) {
    size_t i = pos + marker.size();
    pos = i;
    auto n = read_number(t, i);
    if (!n || *n < 1 || *n > count) continue;
    if (i >= t.size() || t[i] != ':') continue;
    ++i;
    skip_spaces(t, i);
    if (t.compare(i, 8, "[passed]") == 0) out[*n - 1] = true;
    else if (t.compare(i, 8, "[failed]") == 0) out[*n - 1] = false;
  }
  return out;
}

size_t seeded_choice(int64_t seed, std::string_view item_id, size_t n) {
  if (n == 0) return 0;
  std::mt19937_64 rng(hash::fnv1a64(item_id) ^ static_cast<uint64_t>(seed));
  return static_cast<size_t>(rng() % n);
}

}  // namespace troupe::workflows::archon
