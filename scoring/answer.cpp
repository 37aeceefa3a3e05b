#include "scoring/answer.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <vector>

namespace troupe::scoring {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return out;
}

// Index of the '}' closing the '{' at `open`, or npos. "\{" and "\}" are
// literal braces and do not count.
size_t matching_brace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
      ++i;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}') {
      if (--depth == 0) return i;
    }
  }
  return std::string_view::npos;
}

// Replaces every `from` that is not followed by a letter (so "\left" but not
// "\leftarrow") with `to`.
std::string replace_command(std::string s, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    size_t end = pos + from.size();
    if (end < s.size() && is_alpha(s[end])) {
      pos = end;
      continue;
    }
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

// `s` without a wrapper `open ... close` that spans all of it.
bool unwrap_pair(std::string& s, std::string_view open, std::string_view close) {
  if (s.size() >= open.size() + close.size() && s.compare(0, open.size(), open) == 0 &&
      s.compare(s.size() - close.size(), close.size(), close) == 0) {
    s = std::string(trim(std::string_view(s).substr(open.size(), s.size() - open.size() - close.size())));
    return true;
  }
  return false;
}

// `s` without a command like \text{...} whose argument spans the rest of it.
bool unwrap_command(std::string& s, std::string_view command) {
  if (s.compare(0, command.size(), command) != 0) return false;
  size_t open = command.size();
  while (open < s.size() && is_space(s[open])) ++open;
  if (open >= s.size() || s[open] != '{') return false;
  if (matching_brace(s, open) != s.size() - 1) return false;
  s = std::string(trim(std::string_view(s).substr(open + 1, s.size() - open - 2)));
  return true;
}

// A plain decimal ("-1,000.50", ".5", "+3.") in canonical form, or nullopt.
std::optional<std::string> canonical_number(std::string_view s) {
  std::string sign;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    if (s.front() == '-') sign = "-";
    s.remove_prefix(1);
  }
  size_t dot = s.find('.');
  std::string_view int_part = s.substr(0, dot);
  std::string_view frac_part = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (int_part.empty() && frac_part.empty()) return std::nullopt;
  if (!std::all_of(frac_part.begin(), frac_part.end(), is_digit)) return std::nullopt;

  // Integer part: digits, or digit groups "1,234,567" with correct grouping.
  std::string digits;
  if (int_part.find(',') != std::string_view::npos) {
    size_t group = 0;
    for (size_t start = 0; start <= int_part.size(); ++group) {
      size_t comma = int_part.find(',', start);
      std::string_view g = int_part.substr(start, comma == std::string_view::npos ? comma : comma - start);
      bool ok = group == 0 ? (g.size() >= 1 && g.size() <= 3) : g.size() == 3;
      if (!ok || !std::all_of(g.begin(), g.end(), is_digit)) return std::nullopt;
      digits += g;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  } else {
    if (!std::all_of(int_part.begin(), int_part.end(), is_digit)) return std::nullopt;
    digits = std::string(int_part);
  }

  size_t nz = digits.find_first_not_of('0');
  digits = nz == std::string::npos ? "0" : digits.substr(nz);
  std::string frac(frac_part);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  std::string out = digits;
  if (!frac.empty()) out += "." + frac;
  if (out == "0") sign.clear();  // "-0" and "-0.0" are 0
  return sign + out;
}

std::optional<double> to_double(std::string_view s) {
  auto canonical = canonical_number(s);
  if (!canonical) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(canonical->data(), canonical->data() + canonical->size(), v);
  if (ec != std::errc() || end != canonical->data() + canonical->size()) return std::nullopt;
  return v;
}

// Positions just after each occurrence of `marker` in `lower` that does not
// start inside a word.
void find_markers(const std::string& lower, std::string_view marker, std::vector<std::pair<size_t, size_t>>& out) {
  size_t pos = 0;
  while ((pos = lower.find(marker, pos)) != std::string::npos) {
    if (pos == 0 || !is_alnum(lower[pos - 1])) out.emplace_back(pos, pos + marker.size());
    pos += 1;
  }
}

std::string clean_answer_text(std::string_view s) {
  s = trim(s);
  while (!s.empty() && (s.front() == ':' || s.front() == '*' || s.front() == '_' || is_space(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == '.' || s.back() == '*' || s.back() == '_' || is_space(s.back())))
    s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::optional<std::string> extract_boxed(std::string_view text) {
  std::optional<std::string> found;
  size_t i = 0;
  while (i < text.size()) {
    size_t boxed = text.find("\\boxed", i);
    size_t fbox = text.find("\\fbox", i);
    size_t pos = std::min(boxed, fbox);
    if (pos == std::string_view::npos) break;
    size_t after = pos + (pos == boxed ? 6 : 5);
    if (after < text.size() && is_alpha(text[after])) {  // \boxedfoo: another command
      i = after;
      continue;
    }
    size_t j = after;
    while (j < text.size() && is_space(text[j])) ++j;
    if (j < text.size() && text[j] == '{') {
      size_t close = matching_brace(text, j);
      if (close == std::string_view::npos) {  // unclosed: look for a later one
        i = after;
        continue;
      }
      found = std::string(trim(text.substr(j + 1, close - j - 1)));
      i = close + 1;  // boxes nested in this one are part of it
    } else if (j > after && j < text.size()) {
      // "\boxed 5": the argument runs to whitespace or '$'.
      size_t end = j;
      while (end < text.size() && !is_space(text[end]) && text[end] != '$') ++end;
      found = std::string(text.substr(j, end - j));
      i = end;
    } else {
      i = after;
    }
  }
  return found;
}

std::optional<std::string> extract_final_answer(std::string_view text) {
  if (auto boxed = extract_boxed(text)) return boxed;
  std::string lower = to_lower(text);
  std::vector<std::pair<size_t, size_t>> markers;  // (start, end)
  for (std::string_view m : {"final answer:", "the answer is", "answer:"}) find_markers(lower, m, markers);
  std::sort(markers.begin(), markers.end());
  for (auto it = markers.rbegin(); it != markers.rend(); ++it) {
    size_t start = it->second;
    size_t eol = text.find('\n', start);
    std::string answer = clean_answer_text(text.substr(start, eol == std::string_view::npos ? eol : eol - start));
    // "Final Answer:" alone on its line: the answer is on the next non-empty line.
    while (answer.empty() && eol != std::string_view::npos) {
      start = eol + 1;
      eol = text.find('\n', start);
      answer = clean_answer_text(text.substr(start, eol == std::string_view::npos ? eol : eol - start));
    }
    if (!answer.empty()) return answer;
  }
  return std::nullopt;
}

namespace {

// One normalisation pass; normalize_answer() repeats it until nothing changes
// (peeling one layer can expose another, as in "\text{5}.").
std::string normalize_once(std::string_view answer) {
  std::string s(trim(answer));
  s.erase(std::remove(s.begin(), s.end(), '$'), s.end());
  s = std::string(trim(s));

  // Wrappers that span the whole answer, possibly several deep.
  for (bool changed = true; changed;) {
    changed = unwrap_pair(s, "\\(", "\\)") || unwrap_pair(s, "\\[", "\\]") || unwrap_command(s, "\\text") ||
              unwrap_command(s, "\\textbf") || unwrap_command(s, "\\mathrm") || unwrap_command(s, "\\boxed");
  }

  s = replace_command(s, "\\dfrac", "\\frac");
  s = replace_command(s, "\\tfrac", "\\frac");
  s = replace_command(s, "\\left", "");
  s = replace_command(s, "\\right", "");

  // Whitespace and LaTeX spacing commands.
  std::string compact;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() &&
        (s[i + 1] == ',' || s[i + 1] == ';' || s[i + 1] == ':' || s[i + 1] == '!' || s[i + 1] == ' ')) {
      ++i;
      continue;
    }
    if (is_space(s[i]) || s[i] == '~') continue;
    compact += s[i];
  }
  s = std::move(compact);

  // \frac12 -> \frac{1}{2}
  for (size_t pos = 0; (pos = s.find("\\frac", pos)) != std::string::npos;) {
    size_t a = pos + 5;
    if (a + 1 < s.size() && is_digit(s[a]) && is_digit(s[a + 1])) {
      s = s.substr(0, a) + "{" + s[a] + "}{" + s[a + 1] + "}" + s.substr(a + 2);
    }
    pos = a;
  }

  while (!s.empty() && s.back() == '.') s.pop_back();
  if (auto number = canonical_number(s)) return *number;
  return s;
}

}  // namespace

std::string normalize_answer(std::string_view answer) {
  std::string s = normalize_once(answer);
  for (int i = 0; i < 16; ++i) {
    std::string next = normalize_once(s);
    if (next == s) break;
    s = std::move(next);
  }
  return s;
}

std::optional<double> answer_value(std::string_view answer) {
  std::string s = normalize_answer(answer);
  std::string_view v = s;
  if (auto d = to_double(v)) return d;

  bool negative = false;
  if (!v.empty() && v.front() == '-') {
    negative = true;
    v.remove_prefix(1);
  }
  std::string_view num, den;
  if (v.rfind("\\frac{", 0) == 0) {
    size_t close = matching_brace(v, 5);
    if (close == std::string_view::npos || close + 1 >= v.size() || v[close + 1] != '{') return std::nullopt;
    size_t close2 = matching_brace(v, close + 1);
    if (close2 != v.size() - 1) return std::nullopt;
    num = v.substr(6, close - 6);
    den = v.substr(close + 2, close2 - close - 2);
  } else {
    size_t slash = v.find('/');
    if (slash == std::string_view::npos || v.find('/', slash + 1) != std::string_view::npos) return std::nullopt;
    num = v.substr(0, slash);
    den = v.substr(slash + 1);
  }
  auto p = to_double(num);
  auto q = to_double(den);
  if (!p || !q || *q == 0) return std::nullopt;
  double value = *p / *q;
  return negative ? -value : value;
}

bool answers_match(std::string_view a, std::string_view b) {
  std::string na = normalize_answer(a);
  std::string nb = normalize_answer(b);
  if (na == nb) return !na.empty();
  auto va = answer_value(na);
  auto vb = answer_value(nb);
  if (!va || !vb) return false;
  double scale = std::max(std::fabs(*va), std::fabs(*vb));
  return std::fabs(*va - *vb) <= 1e-9 * scale;
}

}  // namespace troupe::scoring
