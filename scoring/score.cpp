#include "scoring/score.hpp"

#include <cctype>
#include <charconv>
#include <string>

namespace troupe::scoring {
namespace {

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool word_at(std::string_view s, size_t i, std::string_view word) {
  if (i + word.size() > s.size()) return false;
  for (size_t k = 0; k < word.size(); ++k)
    if (lower(s[i + k]) != word[k]) return false;
  if (i > 0 && is_word_char(s[i - 1])) return false;
  size_t end = i + word.size();
  return end == s.size() || !is_word_char(s[end]);
}

void skip_spaces(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

// A decimal number at i ("7", "7.5", "-2"), not followed by a letter or
// digit; advances i past it.
std::optional<double> number_at(std::string_view s, size_t& i) {
  size_t j = i;
  if (j < s.size() && s[j] == '-') ++j;
  size_t digits = j;
  while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  if (j == digits) return std::nullopt;
  if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
    ++j;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  }
  if (j < s.size() && (std::isalpha(static_cast<unsigned char>(s[j])) || s[j] == '_')) return std::nullopt;
  double v = 0;
  std::string text(s.substr(i, j - i));
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  i = j;
  return v;
}

// The value and the optional "/ N" or "out of N" after it, normalised.
// `valid` is false when the number is out of its scale.
struct Read {
  bool found = false;
  std::optional<double> value;  // normalised; nullopt when out of range
  size_t end = 0;
};

Read value_and_scale(std::string_view s, size_t i, double scale) {
  Read r;
  auto v = number_at(s, i);
  if (!v) return r;
  r.found = true;
  size_t j = i;
  skip_spaces(s, j);
  double denom = scale;
  if (j < s.size() && s[j] == '/') {
    ++j;
    skip_spaces(s, j);
    size_t k = j;
    if (auto d = number_at(s, k)) {
      denom = *d;
      i = k;
    }
  } else if (word_at(s, j, "out")) {
    size_t k = j + 3;
    skip_spaces(s, k);
    if (word_at(s, k, "of")) {
      k += 2;
      skip_spaces(s, k);
      if (auto d = number_at(s, k)) {
        denom = *d;
        i = k;
      }
    }
  }
  r.end = i;
  if (denom > 0 && *v >= 0 && *v <= denom) r.value = *v / denom;
  return r;
}

bool separator(char c) {
  return c == ' ' || c == '\t' || c == ':' || c == '=' || c == '-' || c == '*' || c == '#' || c == '`' || c == '_';
}

}  // namespace

std::optional<double> parse_score(std::string_view s, double scale) {
  std::optional<double> result;
  size_t best_pos = 0;
  bool have = false;
  auto take = [&](size_t pos, const Read& r) {
    if (!r.found) return;
    if (!have || pos >= best_pos) {
      have = true;
      best_pos = pos;
      result = r.value;
    }
  };
  // Labelled markers: "score", "rating", "grade".
  for (size_t i = 0; i < s.size(); ++i) {
    size_t len = 0;
    for (std::string_view w : {"score", "rating", "grade"})
      if (word_at(s, i, w)) len = w.size();
    if (!len) continue;
    size_t j = i + len;
    // Separators; a '-' right before a digit is a sign, not a separator.
    auto skip = [&] {
      while (j < s.size() && separator(s[j]) &&
             !(s[j] == '-' && j + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[j + 1]))))
        ++j;
    };
    skip();
    if (word_at(s, j, "is") || word_at(s, j, "of")) {
      j += 2;
      skip();
    }
    take(j, value_and_scale(s, j, scale));
  }
  // Lines holding nothing but a number (or number/scale).
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view line = s.substr(start, end - start);
    size_t a = 0, b = line.size();
    auto strip = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '*' || c == '_' || c == '`' || c == '#' || c == '>'; };
    while (a < b && strip(line[a])) ++a;
    while (b > a && (strip(line[b - 1]) || line[b - 1] == '.')) --b;
    if (a < b) {
      std::string_view core = line.substr(a, b - a);
      Read r = value_and_scale(core, 0, scale);
      if (r.found && r.end == core.size()) take(start + a, r);
    }
    if (end == s.size()) break;
    start = end + 1;
  }
  return have ? result : std::nullopt;
}

}  // namespace troupe::scoring
