#include "prover_bridge/fol_repair.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>

#include "prover_bridge/fol.hpp"
#include "prover_bridge/fol_lexer.hpp"
#include "prover_bridge/fol_parser.hpp"

namespace troupe::prover {
namespace {

// ---------------------------------------------------------------- UTF-8

// The code point at s[i] and its length (1 for an invalid byte, so scans
// always advance; the lexer reports invalid UTF-8 itself).
uint32_t code_point(const std::string& s, size_t i, size_t& len) {
  auto b = static_cast<unsigned char>(s[i]);
  len = 1;
  if (b < 0x80) return b;
  size_t n = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0xFFFD;
  uint32_t cp = b & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (c & 0x3F);
  }
  len = n;
  return cp;
}

// The start of the code point that ends just before s[i] (i > 0).
size_t previous_start(const std::string& s, size_t i) {
  size_t k = i - 1;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80 && i - k < 4) --k;
  return k;
}

constexpr uint32_t kRightSingle = 0x2019;  // ’, also an apostrophe inside names

// As the lexer reads names: ASCII letters, digits and '_', apostrophes after
// the first character, and letters of other scripts (not the punctuation and
// symbol blocks, where the operators and curly quotes live).
bool name_char(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_' || cp == '\'';
  if (cp == kRightSingle) return true;
  if (cp < 0xC0) return false;
  if (cp >= 0x2000 && cp <= 0x2BFF) return false;
  if (cp >= 0x3000 && cp <= 0x303F) return false;
  return true;
}

bool name_char_before(const std::string& s, size_t i) {
  if (i == 0) return false;
  size_t len;
  return name_char(code_point(s, previous_start(s, i), len));
}

bool name_char_at(const std::string& s, size_t i) {
  if (i >= s.size()) return false;
  size_t len;
  return name_char(code_point(s, i, len));
}

std::string plural(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// ---------------------------------------------------------------- text passes

struct Pass {
  std::string text;
  std::vector<Repair> repairs;
  std::string refusal;  // non-empty: this formula cannot be repaired, and why
};

// Which bytes belong to a "..." string (quotes included), which the
// passes leave alone.
std::vector<bool> string_mask(const std::string& s) {
  std::vector<bool> out(s.size(), false);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '"') continue;
    size_t close = s.find('"', i + 1);
    if (close == std::string::npos) break;
    std::fill(out.begin() + static_cast<long>(i), out.begin() + static_cast<long>(close) + 1, true);
    i = close;
  }
  return out;
}

// quotes: “New York”, ‘Tom’, `Tom`, «Tom», 'Tom's Diner' -> "New York" ...
Pass fix_quotes(const std::string& s, const std::string& where) {
  Pass p;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '"') {  // a straight string: the lexer's, as written
      size_t close = s.find('"', i + 1);
      size_t end = close == std::string::npos ? s.size() : close + 1;
      p.text.append(s, i, end - i);
      i = end;
      continue;
    }
    size_t len;
    uint32_t cp = code_point(s, i, len);
    std::vector<uint32_t> closers;
    bool straight_single = false;
    if (cp == 0x201C || cp == 0x201E) closers = {0x201D, 0x201C, '"'};  // “ „
    else if (cp == 0x2018) closers = {kRightSingle, 0x2018, '\''};      // ‘
    else if (cp == '`') closers = {'`', '\''};
    else if (cp == 0xAB) closers = {0xBB};                              // « »
    else if (cp == '\'' && !name_char_before(s, i)) straight_single = true;
    if (closers.empty() && !straight_single) {
      p.text.append(s, i, len);
      i += len;
      continue;
    }
    if (straight_single) {
      // The lexer closes at the first '; only a string whose first ' is
      // followed by more name (an apostrophe: 'Tom's Diner') needs help.
      size_t first = s.find('\'', i + 1);
      if (first == std::string::npos || !name_char_at(s, first + 1)) {
        p.text.append(s, i, len);
        i += len;
        continue;
      }
      closers = {'\''};
    }
    // The closing quote is the first closer followed by something that
    // cannot continue a name (so ’ in Tom’s is an apostrophe).
    size_t j = i + len, close = std::string::npos, close_len = 0;
    while (j < s.size()) {
      size_t l;
      uint32_t c = code_point(s, j, l);
      if (std::find(closers.begin(), closers.end(), c) != closers.end() && !name_char_at(s, j + l)) {
        close = j;
        close_len = l;
        break;
      }
      j += l;
    }
    std::string opened = s.substr(i, len);
    if (close == std::string::npos) {
      p.refusal = "the quote " + opened + " opened here is never closed";
      return p;
    }
    std::string content = s.substr(i + len, close - i - len);
    std::string written = s.substr(i, close + close_len - i);
    if (content.find('"') != std::string::npos || content.find_first_not_of(" \t") == std::string::npos) {
      p.refusal = "the quoted text " + written + " is empty or holds a '\"', so it is no constant's name";
      return p;
    }
    p.text += '"' + content + '"';
    p.repairs.push_back({"quotes", content, where, written + " read as the quoted constant \"" + content + "\""});
    i = close + close_len;
  }
  return p;
}

// hyphen: New-York -> New_York (a '-' between two name characters cannot
// be negation).
Pass fix_hyphens(const std::string& s, const std::string& where) {
  Pass p;
  p.text = s;
  auto in_string = string_mask(s);
  std::set<std::string> seen;
  size_t word_end = 0;  // the end of the last hyphenated word recorded
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] != '-' || in_string[i] || !name_char_before(s, i) || !name_char_at(s, i + 1) || s[i + 1] == '\'') continue;
    p.text[i] = '_';
    if (i < word_end) continue;  // a later hyphen of the same word
    size_t a = i, b = i + 1;
    while (a > 0 && name_char_before(s, a)) a = previous_start(s, a);
    while (b < s.size() && (name_char_at(s, b) || (s[b] == '-' && name_char_at(s, b + 1)))) {
      size_t l;
      code_point(s, b, l);
      b += l;
    }
    word_end = b;
    std::string word = s.substr(a, b - a);
    if (seen.insert(word).second) {
      std::string joined = word;
      std::replace(joined.begin(), joined.end(), '-', '_');
      p.repairs.push_back({"hyphen", word, where, word + " read as the name " + joined});
    }
  }
  return p;
}

struct Splice {
  std::string name;
  size_t arity = 0;
  std::string where;
};

// list: P([a, b]) -> P(a, b), when the list is the whole argument list.
Pass fix_lists(const std::string& s, const std::string& where, std::vector<Splice>& splices) {
  Pass p;
  auto in_string = string_mask(s);
  size_t copied = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (in_string[i]) continue;
    if (s[i] == ']') {
      p.refusal = "a ']' closes no '['";
      return p;
    }
    if (s[i] != '[') continue;
    size_t close = std::string::npos;
    for (size_t j = i + 1; j < s.size(); ++j) {
      if (in_string[j]) continue;
      if (s[j] == '[') {
        p.refusal = "a list inside a list";
        return p;
      }
      if (s[j] == ']') {
        close = j;
        break;
      }
    }
    if (close == std::string::npos) {
      p.refusal = "a '[' is never closed";
      return p;
    }
    size_t open = i == 0 ? std::string::npos : s.find_last_not_of(" \t", i - 1);
    bool first_argument = open != std::string::npos && s[open] == '(';
    if (open != std::string::npos && s[open] == ',') {
      // A later argument: find the '(' of its argument list.
      int depth = 0;
      while (open != std::string::npos && open > 0 && !(s[open] == '(' && depth == 0)) {
        if (s[open] == ')') ++depth;
        if (s[open] == '(') --depth;
        --open;
      }
    }
    auto name_before = [&](size_t at) {
      size_t start = at;
      while (start > 0 && name_char_before(s, start)) start = previous_start(s, start);
      return s.substr(start, at - start);
    };
    if (open == std::string::npos || s[open] != '(' || !name_char_before(s, open)) {
      p.refusal = "a list that is not an argument list";
      return p;
    }
    std::string name = name_before(open);
    size_t after = s.find_first_not_of(" \t", close + 1);
    if (!first_argument || after == std::string::npos || s[after] != ')') {
      p.refusal = "a list beside other arguments of '" + name +
                  "': whether it means each, any or all of its elements is not written";
      return p;
    }
    std::string content = s.substr(i + 1, close - i - 1);
    if (content.find_first_not_of(" \t") == std::string::npos) {
      p.refusal = "an empty list as the argument of '" + name + "'";
      return p;
    }
    size_t arity = 1;
    int depth = 0;
    for (char c : content) {
      if (c == '(') ++depth;
      else if (c == ')') --depth;
      else if (c == ',' && depth == 0) ++arity;
    }
    p.text.append(s, copied, i - copied);
    p.text += content;
    copied = close + 1;
    splices.push_back({name, arity, where});
    p.repairs.push_back({"list", name, where,
                         name + "([" + content + "]) read as " + name + "(" + content + "): the list is the whole argument list"});
    i = close;
  }
  p.text.append(s, copied, std::string::npos);
  return p;
}

// parens: append the ')' a formula that ended early lacks; drop surplus
// ')' at its very end.
Pass fix_parens(const std::string& s, const std::string& where) {
  Pass p;
  p.text = s;
  auto toks = tokenize(s);
  if (!toks.ok()) return p;
  int depth = 0, min_depth = 0, first_stray = 0;
  for (const auto& t : *toks) {
    if (t.kind == Tok::lparen) ++depth;
    if (t.kind == Tok::rparen && --depth < min_depth) {
      min_depth = depth;
      if (!first_stray) first_stray = t.column;
    }
  }
  if (depth == 0 && min_depth == 0) return p;
  if (depth > 0 && min_depth == 0) {
    auto parsed = parse_fol(s);
    if (parsed.ok()) return p;
    if (parsed.error().message.find("found end of input") == std::string::npos) {
      p.refusal = "a '(' is never closed, and the parse stops before the end of the formula: where the ')' belongs is not known";
      return p;
    }
    p.text = s + std::string(static_cast<size_t>(depth), ')');
    p.repairs.push_back({"parens", "", where, plural(static_cast<size_t>(depth), "missing ')'", "missing ')'") + " appended at the end"});
    return p;
  }
  // A ')' closes nothing. Only surplus at the very end (before an optional
  // Prover9 period) is dropped, and only if nothing else is unbalanced.
  size_t surplus = depth < 0 ? static_cast<size_t>(-depth) : 0;
  const auto& t = *toks;
  size_t last = t.size() - 1;  // Tok::end
  if (last > 0 && t[last - 1].kind == Tok::dot) --last;
  bool trailing = depth < 0 && last >= surplus;
  for (size_t k = 0; trailing && k < surplus; ++k) trailing = t[last - 1 - k].kind == Tok::rparen;
  if (trailing) {
    int d = 0;
    for (size_t k = 0; k + surplus < last; ++k) {
      if (t[k].kind == Tok::lparen) ++d;
      if (t[k].kind == Tok::rparen && --d < 0) trailing = false;
    }
  }
  if (!trailing) {
    p.refusal = "the ')' at column " + std::to_string(first_stray) +
                " closes nothing and is not at the end: a '(' is missing, and where is not known";
    return p;
  }
  std::string text = s;
  size_t end = text.find_last_not_of(" \t\r\n");
  std::string period;
  if (text[end] == '.') {
    period = ".";
    text.erase(end);
  }
  for (size_t k = 0; k < surplus; ++k) {
    text.erase(text.find_last_not_of(" \t\r\n") + 1);
    text.pop_back();  // a ')', as the tokens said
  }
  p.text = text + period;
  p.repairs.push_back({"parens", "", where, plural(surplus, "surplus ')'", "surplus ')'") + " dropped at the end"});
  return p;
}

// ---------------------------------------------------------------- tree passes

// One identifier for a constant's name: runs of anything that cannot be in
// a name become '_' ("New York" -> New_York, "Coca-Cola" -> Coca_Cola).
std::string identifier(const std::string& name) {
  std::string out;
  bool gap = false;
  for (size_t i = 0; i < name.size();) {
    size_t len;
    uint32_t cp = code_point(name, i, len);
    if (name_char(cp) && !(out.empty() && (cp == '\'' || cp == kRightSingle))) {
      if (gap && !out.empty()) out += '_';
      gap = false;
      out.append(name, i, len);
    } else {
      gap = true;
    }
    i += len;
  }
  // A single letter u..z would read back as a variable: leave such a
  // constant as it is (rendered quoted).
  if (out.size() == 1 && out[0] >= 'u' && out[0] <= 'z') return name;
  return out.empty() ? name : out;
}

template <class F>
void each_term(Term& t, F&& f) {
  f(t);
  for (auto& a : t.args) each_term(a, f);
}

template <class Atom, class TermF>
void walk(Formula& f, Atom&& atom, TermF&& term) {
  if (f.kind == Formula::Kind::atom) atom(f);
  if (f.kind == Formula::Kind::atom || f.kind == Formula::Kind::equal)
    for (auto& a : f.args) each_term(a, term);
  for (auto& s : f.sub) walk(s, atom, term);
}

enum class Role { predicate, term };

struct Signature {
  Role role;
  std::string name;
  size_t arity;
  bool operator<(const Signature& o) const { return std::tie(role, name, arity) < std::tie(o.role, o.name, o.arity); }
};

struct ParsedProblem {
  std::vector<ParsedFormula> formulas;
  std::vector<std::string> where;
  std::vector<bool> renamed;
};

std::string describe(const Signature& s) {
  if (s.role == Role::predicate) return s.name + "/" + std::to_string(s.arity);
  return s.arity == 0 ? "the constant " + s.name : "the function " + s.name + "/" + std::to_string(s.arity);
}

std::vector<Repair> normalise_constants(ParsedProblem& p) {
  std::vector<Repair> out;
  std::map<std::string, std::string> done;
  for (size_t i = 0; i < p.formulas.size(); ++i) {
    bool changed = false;
    walk(
        p.formulas[i].formula, [](Formula&) {},
        [&](Term& t) {
          if (t.kind != Term::Kind::constant) return;
          std::string id = identifier(t.name);
          if (id == t.name) return;
          if (done.emplace(t.name, id).second)
            out.push_back({"constant", t.name, p.where[i], "the constant \"" + t.name + "\" written " + id + " in every formula"});
          t.name = id;
          changed = true;
        });
    if (changed) p.renamed[i] = true;
  }
  return out;
}

std::vector<Repair> split_symbols(ParsedProblem& p) {
  struct Use {
    std::string where;
    size_t order;
  };
  std::map<Signature, Use> uses;
  std::set<std::string> taken;
  size_t order = 0;
  for (size_t i = 0; i < p.formulas.size(); ++i) {
    auto note = [&](Signature s, int column) {
      taken.insert(s.name);
      if (!uses.count(s)) uses[s] = Use{p.where[i] + ", column " + std::to_string(column), order++};
    };
    walk(
        p.formulas[i].formula, [&](Formula& f) { note({Role::predicate, f.name, f.args.size()}, f.column); },
        [&](Term& t) {
          if (t.kind == Term::Kind::variable) taken.insert(t.name);
          else note({Role::term, t.name, t.args.size()}, t.column);
        });
    std::vector<const Formula*> stack{&p.formulas[i].formula};  // bound variables are names too
    while (!stack.empty()) {
      const Formula* f = stack.back();
      stack.pop_back();
      if (f->kind == Formula::Kind::forall || f->kind == Formula::Kind::exists) taken.insert(f->name);
      for (const auto& s : f->sub) stack.push_back(&s);
    }
  }
  std::map<std::string, std::vector<Signature>> by_name;
  for (const auto& [sig, use] : uses) by_name[sig.name].push_back(sig);
  auto fresh = [&](const std::string& base) {
    std::string name = base;
    for (int k = 2; taken.count(name); ++k) name = base + "_" + std::to_string(k);
    taken.insert(name);
    return name;
  };
  std::map<Signature, std::string> rename;
  std::vector<std::pair<size_t, Repair>> found;  // ordered by first use
  for (auto& [name, sigs] : by_name) {
    if (sigs.size() < 2) continue;
    std::sort(sigs.begin(), sigs.end(), [&](const Signature& a, const Signature& b) { return uses[a].order < uses[b].order; });
    std::vector<Signature> preds, terms;
    for (const auto& s : sigs) (s.role == Role::predicate ? preds : terms).push_back(s);
    size_t first = uses[sigs[0]].order;
    std::string where = uses[sigs[0]].where;
    where = where.substr(0, where.find(", column"));
    if (preds.size() > 1 || (preds.empty() && terms.size() > 1)) {
      const auto& group = preds.size() > 1 ? preds : terms;
      std::string from, to;
      for (size_t k = 0; k < group.size(); ++k) {
        const auto& s = group[k];
        std::string n = fresh(name + "_" + (s.role == Role::term ? (s.arity ? "f" : "c") : "") +
                              (s.role == Role::term && s.arity == 0 ? "" : std::to_string(s.arity)));
        rename[s] = n;
        std::string sep = k == 0 ? "" : k + 1 == group.size() ? " and " : ", ";
        from += sep + s.name + "/" + std::to_string(s.arity) + " (" + uses[s].where + ")";
        to += (k ? ", " : "") + n;
      }
      found.push_back({first, {"arity", name, where, from + " renamed " + to}});
    }
    if (!preds.empty() && !terms.empty()) {
      std::string did;
      for (const auto& s : terms) {
        std::string n = rename.count(s) ? rename[s] : fresh(name + (s.arity ? "_f" + std::to_string(s.arity) : "_c"));
        rename[s] = n;
        did += (did.empty() ? "" : "; ") + describe(s) + " (" + uses[s].where + ") renamed " + n;
      }
      found.push_back({first, {"predicate_as_constant", name, where,
                               name + " is a predicate (" + uses[preds[0]].where + ") and a term; " + did}});
    }
  }
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (rename.empty()) return {};
  for (size_t i = 0; i < p.formulas.size(); ++i) {
    bool changed = false;
    walk(
        p.formulas[i].formula,
        [&](Formula& f) {
          auto it = rename.find({Role::predicate, f.name, f.args.size()});
          if (it != rename.end()) f.name = it->second, changed = true;
        },
        [&](Term& t) {
          if (t.kind == Term::Kind::variable) return;
          auto it = rename.find({Role::term, t.name, t.args.size()});
          if (it != rename.end()) t.name = it->second, changed = true;
        });
    if (changed) p.renamed[i] = true;
  }
  std::vector<Repair> out;
  for (auto& [o, r] : found) out.push_back(std::move(r));
  return out;
}

Error refused(const std::string& where, const std::string& parse_error, const std::string& why) {
  return Error{ErrorCode::parse, where + ": " + parse_error + "; not repaired: " + why};
}

}  // namespace

Result<RepairedFormulas> repair_formulas(const std::vector<std::string>& premises, const std::string& conclusion) {
  std::vector<std::string> texts = premises;
  texts.push_back(conclusion);
  ParsedProblem prob;
  prob.renamed.assign(texts.size(), false);
  std::vector<Repair> repairs;
  std::vector<Splice> splices;
  bool respelled = false;  // quotes or hyphens: constants get one spelling
  for (size_t i = 0; i < texts.size(); ++i) {
    std::string where = i < premises.size() ? "premise " + std::to_string(i + 1) : "conclusion";
    prob.where.push_back(where);
    auto parsed = parse_fol(texts[i]);
    if (parsed.ok()) {
      prob.formulas.push_back(std::move(parsed.value()));
      continue;
    }
    const std::string original = parsed.error().message;
    std::string text = texts[i];
    std::vector<Repair> local;
    std::vector<Splice> local_splices;
    for (int pass = 0; pass < 4; ++pass) {
      Pass r = pass == 0   ? fix_quotes(text, where)
               : pass == 1 ? fix_hyphens(text, where)
               : pass == 2 ? fix_lists(text, where, local_splices)
                           : fix_parens(text, where);
      if (!r.refusal.empty()) return refused(where, original, r.refusal);
      text = std::move(r.text);
      for (auto& x : r.repairs) local.push_back(std::move(x));
    }
    auto again = parse_fol(text);
    if (!again.ok()) {
      if (local.empty()) return refused(where, original, "no repair applies");
      return refused(where, original, "after the " + local.front().kind + " repair it still does not parse (" + again.error().message + ")");
    }
    for (const auto& r : local) respelled = respelled || r.kind == "quotes" || r.kind == "hyphen";
    for (auto& r : local) repairs.push_back(std::move(r));
    for (auto& s : local_splices) splices.push_back(std::move(s));
    texts[i] = std::move(text);
    prob.formulas.push_back(std::move(again.value()));
  }
  // A spliced list must give its symbol the arity its other uses have.
  for (const auto& s : splices) {
    std::set<size_t> arities;
    for (auto& pf : prob.formulas)
      walk(
          pf.formula, [&](Formula& f) { if (f.name == s.name) arities.insert(f.args.size()); },
          [&](Term& t) { if (t.kind == Term::Kind::function && t.name == s.name) arities.insert(t.args.size()); });
    arities.erase(s.arity);
    if (!arities.empty())
      return Error{ErrorCode::parse, s.where + ": not repaired: the list in " + s.name + "([...]) would give " + s.name + " " +
                                         plural(s.arity, "argument", "arguments") + ", but it has " +
                                         plural(*arities.begin(), "argument", "arguments") +
                                         " elsewhere: what the list stands for is not known"};
  }
  if (respelled)
    for (auto& r : normalise_constants(prob)) repairs.push_back(std::move(r));
  for (auto& r : split_symbols(prob)) repairs.push_back(std::move(r));
  for (size_t i = 0; i < texts.size(); ++i)
    if (prob.renamed[i]) texts[i] = to_string(prob.formulas[i].formula);
  RepairedFormulas out;
  out.conclusion = std::move(texts.back());
  texts.pop_back();
  out.premises = std::move(texts);
  out.repairs = std::move(repairs);
  return out;
}

}  // namespace troupe::prover
