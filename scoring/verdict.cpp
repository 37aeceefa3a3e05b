#include "scoring/verdict.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

namespace troupe::scoring {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool is_markup(char c) {
  return c == '*' || c == '_' || c == '`' || c == '"' || c == '\'' || c == '(' || c == ')' || c == '[' ||
         c == ']';
}

struct Word {
  Verdict verdict;
  size_t end;
};

struct Marker {
  size_t pos;
  Verdict verdict;
};

// The verdict word starting at `pos` of `lower`, when it is a whole word.
std::optional<Word> match_word(const std::string& lower, size_t pos) {
  static const std::pair<std::string_view, Verdict> words[] = {
      {"not correct", Verdict::no}, {"incorrect", Verdict::no}, {"correct", Verdict::yes},
      {"wrong", Verdict::no},       {"yes", Verdict::yes},      {"no", Verdict::no},
  };
  for (const auto& [word, verdict] : words) {
    if (lower.compare(pos, word.size(), word) != 0) continue;
    size_t end = pos + word.size();
    if (end < lower.size() && is_alnum(lower[end])) continue;
    return Word{verdict, end};
  }
  return std::nullopt;
}

// True when the word ending at `end` ends its clause (see the header).
bool ends_clause(const std::string& lower, size_t end) {
  while (end < lower.size() && (is_blank(lower[end]) || is_markup(lower[end]))) ++end;
  if (end >= lower.size()) return true;
  char c = lower[end];
  if (c == '\n' || c == '.' || c == ',' || c == '!' || c == ';' || c == ':' || c == '-') return true;
  return lower.compare(end, 3, "\xE2\x80\x94") == 0 || lower.compare(end, 3, "\xE2\x80\x93") == 0;  // — –
}

// The verdict word at `pos` (after skipping opening markup), if it is one
// and ends its clause.
std::optional<Marker> verdict_at(const std::string& lower, size_t pos) {
  while (pos < lower.size() && (is_blank(lower[pos]) || is_markup(lower[pos]))) ++pos;
  auto word = match_word(lower, pos);
  if (!word || !ends_clause(lower, word->end)) return std::nullopt;
  return Marker{pos, word->verdict};
}

// True when the text before `pos` ends with a question ("...?", then only
// blanks, line breaks and markup) that asks about a fault.
bool answers_fault_question(const std::string& lower, size_t pos) {
  size_t i = pos;
  while (i > 0 && (is_blank(lower[i - 1]) || lower[i - 1] == '\n' || is_markup(lower[i - 1]))) --i;
  if (i == 0 || lower[i - 1] != '?') return false;
  size_t q_end = i - 1;
  size_t q_start = q_end;
  while (q_start > 0 && std::string_view(".!?\n").find(lower[q_start - 1]) == std::string_view::npos) --q_start;
  std::string_view question(lower.data() + q_start, q_end - q_start);
  for (std::string_view fault : {"error", "mistake", "wrong", "incorrect", "flaw"})
    if (question.find(fault) != std::string_view::npos) return true;
  return false;
}

// 1. "Verdict: Yes", "The answer is correct."
void labelled_markers(const std::string& lower, std::vector<Marker>& out) {
  for (std::string_view label : {"verdict", "answer", "judgment", "judgement", "conclusion", "decision"}) {
    for (size_t pos = lower.find(label); pos != std::string::npos; pos = lower.find(label, pos + 1)) {
      size_t end = pos + label.size();
      if ((pos > 0 && is_alnum(lower[pos - 1])) || (end < lower.size() && is_alnum(lower[end]))) continue;
      auto skip_separators = [&](size_t j) {
        while (j < lower.size() && (is_blank(lower[j]) || lower[j] == '\n' || is_markup(lower[j]) ||
                                    std::string_view(":=-#>").find(lower[j]) != std::string_view::npos))
          ++j;
        return j;
      };
      size_t j = skip_separators(end);
      if (lower.compare(j, 2, "is") == 0 && (j + 2 >= lower.size() || !is_alnum(lower[j + 2])))
        j = skip_separators(j + 2);
      if (auto m = verdict_at(lower, j)) out.push_back(*m);
    }
  }
}

// 2. \boxed{Yes}, \boxed{\text{No}}, \fbox{Correct}
void boxed_markers(const std::string& lower, std::vector<Marker>& out) {
  for (std::string_view command : {"\\boxed", "\\fbox"}) {
    for (size_t pos = lower.find(command); pos != std::string::npos; pos = lower.find(command, pos + 1)) {
      size_t open = pos + command.size();
      while (open < lower.size() && is_blank(lower[open])) ++open;
      if (open >= lower.size() || lower[open] != '{') continue;
      size_t close = lower.find('}', open);
      if (close == std::string::npos) continue;
      std::string inner = lower.substr(open + 1, close - open - 1);
      for (std::string_view wrapper : {"\\text{", "\\textbf{", "\\mathrm{"})
        if (inner.rfind(wrapper, 0) == 0) inner = inner.substr(wrapper.size());
      // \boxed{\text{No}}: the first '}' closed the inner command.
      std::string word;
      for (char c : inner)
        if (is_alnum(c) || c == ' ') word += c;
      while (!word.empty() && word.back() == ' ') word.pop_back();
      while (!word.empty() && word.front() == ' ') word.erase(word.begin());
      auto m = match_word(word, 0);
      if (m && m->end == word.size()) out.push_back(Marker{pos, m->verdict});
    }
  }
}

// 3. "Is the answer correct (Yes or No)? No"
void question_markers(const std::string& lower, std::vector<Marker>& out) {
  for (size_t pos = lower.find('?'); pos != std::string::npos; pos = lower.find('?', pos + 1)) {
    auto m = verdict_at(lower, pos + 1);
    if (m && !answers_fault_question(lower, m->pos)) out.push_back(*m);
  }
}

// 4. A line that is only a verdict word.
void line_markers(const std::string& lower, std::vector<Marker>& out) {
  size_t start = 0;
  while (start <= lower.size()) {
    size_t eol = lower.find('\n', start);
    if (eol == std::string::npos) eol = lower.size();
    size_t b = start, e = eol;
    auto strip = [](char c) { return is_blank(c) || is_markup(c) || c == '#' || c == '>'; };
    while (b < e && strip(lower[b])) ++b;
    while (e > b && (strip(lower[e - 1]) || lower[e - 1] == '.' || lower[e - 1] == '!' || lower[e - 1] == ','))
      --e;
    if (b < e) {
      auto m = match_word(lower, b);
      if (m && m->end == e && !answers_fault_question(lower, b)) out.push_back(Marker{b, m->verdict});
    }
    start = eol + 1;
  }
}

}  // namespace

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::yes: return "yes";
    case Verdict::no: return "no";
    case Verdict::unknown: break;
  }
  return "unknown";
}

Verdict parse_verdict(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  std::vector<Marker> markers;
  labelled_markers(lower, markers);
  boxed_markers(lower, markers);
  question_markers(lower, markers);
  line_markers(lower, markers);
  if (markers.empty()) return Verdict::unknown;
  auto last = std::max_element(markers.begin(), markers.end(),
                               [](const Marker& a, const Marker& b) { return a.pos < b.pos; });
  return last->verdict;
}

}  // namespace troupe::scoring
