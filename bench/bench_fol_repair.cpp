// How many LINC samples the FOL repair pass (prover_bridge/fol_repair.hpp)
// keeps from being voted away, measured on FOLIO's gold FOL with the slips
// models make put in on purpose.
//
// Each corruption kind below is applied once to each FOLIO validation
// problem it fits (seeded; one kind per sample), and every sample is
// decided by E twice: as written (repair off) and through the repair pass.
// The table gives, per kind, the Error rate before and after, how many were
// refused, and how often the label after repair agrees with the label the
// uncorrupted gold FOL gets (and with the dataset's label). The `gold` row
// is the uncorrupted FOL: repair must not make it worse.
//
// Kinds (each keeps the meaning of the gold formula, so a faithful repair
// decides like the gold translation):
//   parens_missing  1-2 closing ')' removed from the end of one formula
//   parens_extra    1-2 ')' appended to one formula
//   quoted          one constant written as words, each use in “curly”,
//                   ‘curly’, "straight" or 'straight' quotes or Hyphen-Joined
//                   (the first use always curly or hyphenated)
//   arity           one predicate renamed to the name of another predicate
//                   of a different arity (the name now has two arities)
//   pred_as_const   one constant renamed to the name of a predicate
//   list            one atom's arguments written as a list: P([a, b])
// and two without one reading, which the pass should refuse, not guess:
//   parens_inner    one ')' removed from inside a formula (not its end)
//   list_beside     an atom's last argument written as a list: P(a, [b])
//
//   build/release/bench/bench_fol_repair [--seed N] [--limit N] [--jobs J] [--cpu-limit S]
//
// Needs ../shared/data/folio (skips with a message when absent) and eprover.
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "prover_bridge/fol_lexer.hpp"
#include "prover_bridge/fol_parser.hpp"
#include "prover_bridge/fol_repair.hpp"
#include "prover_bridge/folio.hpp"
#include "prover_bridge/prover.hpp"

using namespace troupe::prover;

namespace {

// ------------------------------------------------------------ text edits

// The byte offset of 1-based character column `column` in `s`.
size_t byte_at(const std::string& s, int column) {
  size_t i = 0;
  for (int c = 1; c < column && i < s.size(); ++c) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  }
  return i;
}

struct Edit {
  size_t at;
  size_t erase;
  std::string insert;
};

std::string apply(std::string s, std::vector<Edit> edits) {
  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.at > b.at; });
  for (const auto& e : edits) s.replace(e.at, e.erase, e.insert);
  return s;
}

// ------------------------------------------------------------ symbols of a problem

struct Symbols {
  std::map<std::string, std::set<size_t>> predicates;  // name -> arities
  std::set<std::string> terms;                         // constants and functions
  std::set<std::string> constants;
};

void collect(const Term& t, Symbols& s) {
  if (t.kind == Term::Kind::variable) return;
  s.terms.insert(t.name);
  if (t.kind == Term::Kind::constant) s.constants.insert(t.name);
  for (const auto& a : t.args) collect(a, s);
}

void collect(const Formula& f, Symbols& s) {
  if (f.kind == Formula::Kind::atom) s.predicates[f.name].insert(f.args.size());
  for (const auto& a : f.args) collect(a, s);
  for (const auto& x : f.sub) collect(x, s);
}

std::optional<Symbols> symbols(const Problem& p) {
  Symbols s;
  std::vector<std::string> all = p.premises;
  all.push_back(p.conclusion);
  for (const auto& text : all) {
    auto f = parse_fol(text);
    if (!f.ok()) return std::nullopt;
    collect(f->formula, s);
  }
  return s;
}

// Every formula of the problem, by reference (premises then conclusion).
std::vector<std::string*> formulas(Problem& p) {
  std::vector<std::string*> out;
  for (auto& f : p.premises) out.push_back(&f);
  out.push_back(&p.conclusion);
  return out;
}

// Renames every name token `from` (one lexer token) to `to`.
void rename_tokens(Problem& p, const std::string& from, const std::string& to) {
  for (auto* f : formulas(p)) {
    auto toks = tokenize(*f);
    if (!toks.ok()) continue;
    std::vector<Edit> edits;
    for (const auto& t : *toks)
      if (t.kind == Tok::name && t.text == from) edits.push_back({byte_at(*f, t.column), t.text.size(), to});
    *f = apply(*f, edits);
  }
}

template <class T>
const T& pick(const std::vector<T>& v, std::mt19937& rng) {
  return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

int coin(std::mt19937& rng, int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }

// ------------------------------------------------------------ corruptions

std::optional<Problem> parens_missing(Problem p, std::mt19937& rng) {
  std::vector<std::string*> fit;
  for (auto* f : formulas(p))
    if (!f->empty() && f->back() == ')') fit.push_back(f);
  if (fit.empty()) return std::nullopt;
  std::string* f = pick(fit, rng);
  int k = 1 + coin(rng, 2);
  for (int i = 0; i < k && !f->empty() && f->back() == ')'; ++i) f->pop_back();
  return p;
}

std::optional<Problem> parens_extra(Problem p, std::mt19937& rng) {
  auto all = formulas(p);
  *pick(all, rng) += std::string(static_cast<size_t>(1 + coin(rng, 2)), ')');
  return p;
}

// "surprisingAdventuresofSirDigby" -> {surprising, Adventuresof, Sir, Digby}
std::vector<std::string> words(const std::string& name) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '_') {
      if (!out.back().empty()) out.emplace_back();
      continue;
    }
    if (c >= 'A' && c <= 'Z' && i > 0 && name[i - 1] >= 'a' && name[i - 1] <= 'z') out.emplace_back();
    out.back() += c;
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

bool plain_ascii_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

std::optional<Problem> quoted(Problem p, const Symbols& sym, std::mt19937& rng) {
  std::vector<std::string> fit;
  for (const auto& c : sym.constants) {
    if (!plain_ascii_name(c) || sym.predicates.count(c) || (c.size() == 1 && c[0] >= 'u' && c[0] <= 'z')) continue;
    std::string joined;
    for (const auto& w : words(c)) joined += (joined.empty() ? "" : "_") + w;
    if (joined != c && (sym.terms.count(joined) || sym.predicates.count(joined))) continue;  // would merge two names
    fit.push_back(c);
  }
  if (fit.empty()) return std::nullopt;
  const std::string& c = pick(fit, rng);
  auto ws = words(c);
  std::string spaced, hyphened;
  for (const auto& w : ws) {
    spaced += (spaced.empty() ? "" : " ") + w;
    hyphened += (hyphened.empty() ? "" : "-") + w;
  }
  bool first = true;
  for (auto* f : formulas(p)) {
    auto toks = tokenize(*f);
    if (!toks.ok()) continue;
    std::vector<Edit> edits;
    for (const auto& t : *toks) {
      if (t.kind != Tok::name || t.text != c) continue;
      // The first use in a form the parser rejects; the others in any form.
      int form = first ? coin(rng, ws.size() > 1 ? 3 : 2) : coin(rng, ws.size() > 1 ? 5 : 4);
      std::string text = form == 0   ? "“" + spaced + "”"
                         : form == 1 ? "‘" + spaced + "’"
                         : form == 2 && ws.size() > 1 ? hyphened
                         : form == (ws.size() > 1 ? 3 : 2) ? "\"" + spaced + "\""
                                                           : "'" + spaced + "'";
      first = false;
      edits.push_back({byte_at(*f, t.column), t.text.size(), text});
    }
    *f = apply(*f, edits);
  }
  return p;
}

std::optional<Problem> arity(Problem p, const Symbols& sym, std::mt19937& rng) {
  std::vector<std::pair<std::string, std::string>> fit;  // rename second to first
  for (const auto& [a, aa] : sym.predicates)
    for (const auto& [b, ba] : sym.predicates)
      if (a != b && aa.size() == 1 && ba.size() == 1 && *aa.begin() != *ba.begin() && !sym.terms.count(a) && !sym.terms.count(b) &&
          plain_ascii_name(a) && plain_ascii_name(b))
        fit.push_back({a, b});
  if (fit.empty()) return std::nullopt;
  auto [keep, gone] = pick(fit, rng);
  rename_tokens(p, gone, keep);
  return p;
}

std::optional<Problem> pred_as_const(Problem p, const Symbols& sym, std::mt19937& rng) {
  std::vector<std::string> consts, preds;
  for (const auto& c : sym.constants)
    if (plain_ascii_name(c) && !sym.predicates.count(c) && !(c.size() == 1 && c[0] >= 'u' && c[0] <= 'z')) consts.push_back(c);
  for (const auto& [name, ar] : sym.predicates)
    if (plain_ascii_name(name) && !sym.terms.count(name)) preds.push_back(name);
  if (consts.empty() || preds.empty()) return std::nullopt;
  rename_tokens(p, pick(consts, rng), pick(preds, rng));
  return p;
}

std::optional<Problem> list(Problem p, std::mt19937& rng) {
  struct Site {
    std::string* f;
    size_t open, close;
  };
  std::vector<Site> fit;
  for (auto* f : formulas(p)) {
    auto toks = tokenize(*f);
    if (!toks.ok()) continue;
    const auto& t = *toks;
    for (size_t i = 0; i + 1 < t.size(); ++i) {
      if (t[i].kind != Tok::name || t[i + 1].kind != Tok::lparen || t[i + 1].space_before) continue;
      int depth = 0, commas = 0;
      size_t j = i + 1;
      for (; j < t.size(); ++j) {
        if (t[j].kind == Tok::lparen) ++depth;
        if (t[j].kind == Tok::rparen && --depth == 0) break;
        if (t[j].kind == Tok::comma && depth == 1) ++commas;
      }
      if (j < t.size() && commas > 0) fit.push_back({f, byte_at(*f, t[i + 1].column), byte_at(*f, t[j].column)});
    }
  }
  if (fit.empty()) return std::nullopt;
  const Site& s = pick(fit, rng);
  *s.f = apply(*s.f, {{s.open + 1, 0, "["}, {s.close, 0, "]"}});
  return p;
}

// Slips without one reading, which the pass should refuse rather than guess:
// a ')' removed from inside a formula (not from its end) ...
std::optional<Problem> parens_inner(Problem p, std::mt19937& rng) {
  struct Site {
    std::string* f;
    size_t at;
  };
  std::vector<Site> fit;
  for (auto* f : formulas(p)) {
    auto toks = tokenize(*f);
    if (!toks.ok()) continue;
    const auto& t = *toks;
    for (size_t i = 0; i + 2 < t.size(); ++i)  // not the last token
      if (t[i].kind == Tok::rparen) fit.push_back({f, byte_at(*f, t[i].column)});
  }
  if (fit.empty()) return std::nullopt;
  const Site& s = pick(fit, rng);
  s.f->erase(s.at, 1);
  return p;
}

// ... and one argument of an atom written as a list beside the others.
std::optional<Problem> list_beside(Problem p, std::mt19937& rng) {
  struct Site {
    std::string* f;
    size_t open, close;
  };
  std::vector<Site> fit;
  for (auto* f : formulas(p)) {
    auto toks = tokenize(*f);
    if (!toks.ok()) continue;
    const auto& t = *toks;
    for (size_t i = 0; i + 3 < t.size(); ++i)
      if (t[i].kind == Tok::comma && t[i + 1].kind == Tok::name && t[i + 2].kind == Tok::rparen)
        fit.push_back({f, byte_at(*f, t[i + 1].column), byte_at(*f, t[i + 1].column) + t[i + 1].text.size()});
  }
  if (fit.empty()) return std::nullopt;
  const Site& s = pick(fit, rng);
  *s.f = apply(*s.f, {{s.open, 0, "["}, {s.close, 0, "]"}});
  return p;
}

// ------------------------------------------------------------ deciding many problems

std::vector<ProofResult> decide_all(Prover& prover, const std::vector<Problem>& problems) {
  std::vector<ProofResult> out(problems.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;
  for (size_t i = 0; i < problems.size(); ++i)
    prover.submit(problems[i], [&, i](ProofResult r) {
      std::lock_guard<std::mutex> lock(mu);
      out[i] = std::move(r);
      ++done;
      cv.notify_all();
    });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == problems.size(); });
  return out;
}

struct Sample {
  std::string kind;
  size_t item;
  Problem corrupted;
};

}  // namespace

int main(int argc, char** argv) {
  unsigned seed = 1;
  size_t limit = 0;
  ProverOptions o;
  o.cpu_limit_s = 1;
  o.jobs = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seed") seed = static_cast<unsigned>(std::atol(argv[i + 1]));
    else if (a == "--limit") limit = static_cast<size_t>(std::atol(argv[i + 1]));
    else if (a == "--jobs") o.jobs = std::atoi(argv[i + 1]);
    else if (a == "--cpu-limit") o.cpu_limit_s = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_fol_repair [--seed N] [--limit N] [--jobs J] [--cpu-limit S]\n");
      return 2;
    }
  }
  auto items = troupe::testing::load_folio();
  if (items.empty()) {
    std::printf("FOLIO data not found at %s: skipped (needs ../shared/data/folio)\n", troupe::testing::folio_path().c_str());
    return 0;
  }
  if (limit && items.size() > limit) items.resize(limit);
  auto prover = Prover::create(o);
  if (!prover.ok()) {
    std::printf("%s: skipped\n", prover.error().message.c_str());
    return 0;
  }
  std::mt19937 rng(seed);
  const std::vector<std::string> kinds = {"gold", "parens_missing", "parens_extra", "quoted", "arity", "pred_as_const", "list",
                                          "parens_inner", "list_beside"};
  std::vector<Sample> samples;
  for (size_t i = 0; i < items.size(); ++i) {
    const Problem& gold = items[i].problem;
    samples.push_back({"gold", i, gold});
    auto sym = symbols(gold);
    if (!sym) continue;  // gold that does not parse is only in the gold row
    std::optional<Problem> c;
    if ((c = parens_missing(gold, rng))) samples.push_back({"parens_missing", i, *c});
    if ((c = parens_extra(gold, rng))) samples.push_back({"parens_extra", i, *c});
    if ((c = quoted(gold, *sym, rng))) samples.push_back({"quoted", i, *c});
    if ((c = arity(gold, *sym, rng))) samples.push_back({"arity", i, *c});
    if ((c = pred_as_const(gold, *sym, rng))) samples.push_back({"pred_as_const", i, *c});
    if ((c = list(gold, rng))) samples.push_back({"list", i, *c});
    if ((c = parens_inner(gold, rng))) samples.push_back({"parens_inner", i, *c});
    if ((c = list_beside(gold, rng))) samples.push_back({"list_beside", i, *c});
  }
  // Before: as written. After: through the repair pass; a sample the pass
  // leaves unchanged decides as before, so E runs again only on changed ones.
  std::vector<Problem> before_problems, after_problems;
  std::vector<size_t> after_of(samples.size(), SIZE_MAX);
  size_t repaired = 0;
  for (size_t s = 0; s < samples.size(); ++s) {
    before_problems.push_back(samples[s].corrupted);
    auto r = repair_formulas(samples[s].corrupted.premises, samples[s].corrupted.conclusion);
    if (!r.ok() || !r->repairs.empty()) {
      Problem p = samples[s].corrupted;
      p.repair = true;
      after_of[s] = after_problems.size();
      after_problems.push_back(std::move(p));
      if (r.ok()) ++repaired;
    }
  }
  std::fprintf(stderr, "%zu samples over %zu FOLIO problems (seed %u); E runs on %zu + %zu problems, CPU limit %g s, %d jobs\n",
               samples.size(), items.size(), seed, before_problems.size(), after_problems.size(), o.cpu_limit_s, o.jobs);
  auto before = decide_all(**prover, before_problems);
  auto after_changed = decide_all(**prover, after_problems);
  std::map<size_t, std::string> gold_label;  // item -> the uncorrupted gold FOL's label (repair off)
  for (size_t s = 0; s < samples.size(); ++s)
    if (samples[s].kind == "gold") gold_label[samples[s].item] = before[s].label;

  struct Row {
    int n = 0, error_before = 0, error_after = 0, refused = 0, repaired = 0, agree_gold_fol = 0, agree_dataset = 0;
  };
  std::map<std::string, Row> rows;
  for (size_t s = 0; s < samples.size(); ++s) {
    const ProofResult& b = before[s];
    const ProofResult& a = after_of[s] == SIZE_MAX ? before[s] : after_changed[after_of[s]];
    Row& row = rows[samples[s].kind];
    ++row.n;
    row.error_before += b.label == "Error";
    row.error_after += a.label == "Error";
    row.refused += a.error.find("not repaired:") != std::string::npos;
    row.repaired += !a.repairs.empty();
    row.agree_gold_fol += a.label == gold_label[samples[s].item];
    row.agree_dataset += a.label == items[samples[s].item].gold;
  }
  auto pct = [](int k, int n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%5.1f%% (%3d)", n ? 100.0 * k / n : 0.0, k);
    return std::string(buf);
  };
  std::printf("| kind | samples | Error before | Error after | refused | repaired | after = gold FOL's label | after = dataset label |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& k : kinds) {
    const Row& r = rows[k];
    std::printf("| %s | %d | %s | %s | %d | %d | %s | %s |\n", k.c_str(), r.n, pct(r.error_before, r.n).c_str(),
                pct(r.error_after, r.n).c_str(), r.refused, r.repaired, pct(r.agree_gold_fol, r.n).c_str(),
                pct(r.agree_dataset, r.n).c_str());
  }
  // The refusals and the disagreements, so a reader can check them.
  for (size_t s = 0; s < samples.size(); ++s) {
    const ProofResult& a = after_of[s] == SIZE_MAX ? before[s] : after_changed[after_of[s]];
    if (samples[s].kind == "gold" && a.label == gold_label[samples[s].item]) continue;
    if (a.label == gold_label[samples[s].item]) continue;
    std::fprintf(stderr, "%s, FOLIO line %d: gold FOL %s, after repair %s%s%s\n", samples[s].kind.c_str(),
                 items[samples[s].item].line, gold_label[samples[s].item].c_str(), a.label.c_str(),
                 a.error.empty() ? "" : ": ", a.error.substr(0, 200).c_str());
  }
  (void)repaired;
  return 0;
}
