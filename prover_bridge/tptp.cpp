#include "prover_bridge/tptp.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

namespace troupe::prover {
namespace {

enum class Role { predicate, function };

struct SymbolKey {
  Role role;
  std::string name;
  size_t arity;
  bool operator<(const SymbolKey& o) const { return std::tie(role, name, arity) < std::tie(o.role, o.name, o.arity); }
};

struct Use {
  std::string where;  // "premise 2, column 5"
  size_t order = 0;
};

bool lower_word(const std::string& s) {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool plain_word(const std::string& s) {
  if (s.empty()) return false;
  char c0 = s[0];
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z'))) return false;
  return lower_word(std::string(1, 'a') + s.substr(1));
}

// A TPTP atomic word for `raw`: a lower word as is, else single-quoted.
std::string encode(const std::string& raw) {
  if (lower_word(raw)) return raw;
  std::string out = "'";
  for (size_t i = 0; i < raw.size(); ++i) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else if (c >= 0x80) {
      // Decode the (already validated) UTF-8 sequence.
      uint32_t cp;
      size_t len;
      if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; len = 2; }
      else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; len = 3; }
      else { cp = c & 0x07; len = 4; }
      for (size_t k = 1; k < len && i + k < raw.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(raw[i + k]) & 0x3F);
      i += len - 1;
      char buf[16];
      std::snprintf(buf, sizeof buf, "_u%04X_", cp);
      out += buf;
    } else {
      out += '_';
    }
  }
  return out + "'";
}

std::string base_name(const std::string& name) {
  if (plain_word(name)) {
    std::string s = name;
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    return s;
  }
  return name;
}

std::string describe_key(const SymbolKey& k) {
  if (k.role == Role::predicate)
    return k.arity == 0 ? "a proposition" : "a predicate with " + std::to_string(k.arity) + (k.arity == 1 ? " argument" : " arguments");
  if (k.arity == 0) return "a constant";
  return "a function with " + std::to_string(k.arity) + (k.arity == 1 ? " argument" : " arguments");
}

class Emitter {
 public:
  void collect(const Formula& f, const std::string& label) {
    using K = Formula::Kind;
    if (f.kind == K::atom) {
      note_use({Role::predicate, f.name, f.args.size()}, label, f.column);
      for (const auto& a : f.args) collect(a, label);
    } else if (f.kind == K::equal) {
      for (const auto& a : f.args) collect(a, label);
    }
    for (const auto& s : f.sub) collect(s, label);
  }

  void assign(std::vector<std::string>& notes) {
    std::vector<std::pair<size_t, SymbolKey>> ordered;
    for (const auto& [key, use] : uses_) ordered.push_back({use.order, key});
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::set<std::string> taken;
    std::map<std::string, std::vector<SymbolKey>> by_name;
    for (const auto& [order, key] : ordered) {
      std::string base = base_name(key.name);
      std::string word = encode(base);
      if (taken.count(word)) {
        std::string suffix = key.role == Role::predicate ? "_p" : "_c";
        if (key.arity > 0) suffix += std::to_string(key.arity);
        word = encode(base + suffix);
        for (int k = 2; taken.count(word); ++k) word = encode(base + suffix + "_" + std::to_string(k));
      }
      taken.insert(word);
      names_[key] = word;
      by_name[key.name].push_back(key);
    }
    for (const auto& [name, keys] : by_name) {
      if (keys.size() < 2) continue;
      bool arity_clash = false;
      for (size_t i = 0; i < keys.size(); ++i)
        for (size_t j = i + 1; j < keys.size(); ++j)
          if (keys[i].role == keys[j].role) arity_clash = true;
      std::string note = std::string(arity_clash ? "arity clash: " : "") + "'" + name + "' is used as ";
      std::string kept;
      for (size_t i = 0; i < keys.size(); ++i) {
        if (i) note += i + 1 == keys.size() ? " and as " : ", as ";
        note += describe_key(keys[i]) + " (" + uses_[keys[i]].where + ")";
        kept += (i ? ", " : "") + names_[keys[i]];
      }
      notes.push_back(note + "; kept apart as " + kept);
    }
  }

  std::string formula(const Formula& f, const std::vector<std::string>& free) {
    scope_.clear();
    used_.clear();
    if (free.empty()) return emit(f).text;
    std::string vars;
    for (const auto& v : free) {
      std::string name = bind(v);
      vars += (vars.empty() ? "" : ", ") + name;
    }
    std::string body = emit(f).text;
    return "(! [" + vars + "] : " + body + ")";
  }

 private:
  struct Out {
    std::string text;
    bool has_xor = false;
  };

  void note_use(SymbolKey key, const std::string& label, int column) {
    if (uses_.count(key)) return;
    uses_[key] = Use{label + ", column " + std::to_string(column), next_order_++};
  }

  void collect(const Term& t, const std::string& label) {
    if (t.kind == Term::Kind::variable) return;
    note_use({Role::function, t.name, t.args.size()}, label, t.column);
    for (const auto& a : t.args) collect(a, label);
  }

  // Binds source variable `v`: a fresh TPTP variable unless an enclosing
  // binder already uses that spelling.
  std::string bind(const std::string& v) {
    std::string base = plain_word(v) ? std::string(1, static_cast<char>(std::toupper(static_cast<unsigned char>(v[0])))) + v.substr(1)
                                     : "V";
    std::string name = base;
    for (int k = 2; used_.count(name); ++k) name = base + "_" + std::to_string(k);
    used_.insert(name);
    scope_.push_back({v, name});
    return name;
  }

  void unbind() {
    used_.erase(scope_.back().second);
    scope_.pop_back();
  }

  std::string variable(const std::string& v) const {
    for (size_t i = scope_.size(); i-- > 0;)
      if (scope_[i].first == v) return scope_[i].second;
    return "V_unbound";  // unreachable for parser output
  }

  std::string term(const Term& t) {
    if (t.kind == Term::Kind::variable) return variable(t.name);
    std::string out = names_.at({Role::function, t.name, t.args.size()});
    if (!t.args.empty()) {
      out += '(';
      for (size_t i = 0; i < t.args.size(); ++i) {
        if (i) out += ", ";
        out += term(t.args[i]);
      }
      out += ')';
    }
    return out;
  }

  Out emit(const Formula& f) {
    using K = Formula::Kind;
    switch (f.kind) {
      case K::atom: {
        std::string out = names_.at({Role::predicate, f.name, f.args.size()});
        if (!f.args.empty()) {
          out += '(';
          for (size_t i = 0; i < f.args.size(); ++i) {
            if (i) out += ", ";
            out += term(f.args[i]);
          }
          out += ')';
        }
        return {out};
      }
      case K::equal: return {"(" + term(f.args[0]) + " = " + term(f.args[1]) + ")"};
      case K::not_: {
        Out s = emit(f.sub[0]);
        return {"~ " + s.text, s.has_xor};
      }
      case K::forall:
      case K::exists: {
        std::string var = bind(f.name);
        Out body = emit(f.sub[0]);
        unbind();
        return {std::string("(") + (f.kind == K::forall ? "!" : "?") + " [" + var + "] : " + body.text + ")", body.has_xor};
      }
      default: break;
    }
    Out a = emit(f.sub[0]);
    Out b = emit(f.sub[1]);
    bool nested = a.has_xor || b.has_xor;
    const char* op = "";
    switch (f.kind) {
      case K::and_: op = " & "; break;
      case K::or_: op = " | "; break;
      case K::implies: op = " => "; break;
      case K::iff: op = " <=> "; break;
      case K::xor_:
        if (nested) return {"(" + a.text + " <~> " + b.text + ")", true};
        return {"((" + a.text + " & ~ " + b.text + ") | (~ " + a.text + " & " + b.text + "))", true};
      default: break;
    }
    return {"(" + a.text + op + b.text + ")", nested};
  }

  std::map<SymbolKey, Use> uses_;
  size_t next_order_ = 0;
  std::map<SymbolKey, std::string> names_;
  std::vector<std::pair<std::string, std::string>> scope_;
  std::set<std::string> used_;
};

std::string free_note(const std::string& label, const std::vector<std::string>& free) {
  std::string vars;
  for (const auto& v : free) vars += (vars.empty() ? "" : ", ") + v;
  return label + ": free variable" + (free.size() > 1 ? "s " : " ") + vars + " read as universally quantified (as Prover9 does)";
}

}  // namespace

TptpProblem to_tptp(const std::vector<ParsedFormula>& premises, const ParsedFormula& conclusion) {
  Emitter e;
  for (size_t i = 0; i < premises.size(); ++i) e.collect(premises[i].formula, "premise " + std::to_string(i + 1));
  e.collect(conclusion.formula, "conclusion");
  TptpProblem p;
  e.assign(p.notes);
  for (size_t i = 0; i < premises.size(); ++i) {
    std::string label = "premise_" + std::to_string(i + 1);
    p.axioms += "fof(" + label + ", axiom, " + e.formula(premises[i].formula, premises[i].free_variables) + ").\n";
    if (!premises[i].free_variables.empty()) p.notes.push_back(free_note("premise " + std::to_string(i + 1), premises[i].free_variables));
  }
  std::string c = e.formula(conclusion.formula, conclusion.free_variables);
  if (!conclusion.free_variables.empty()) p.notes.push_back(free_note("conclusion", conclusion.free_variables));
  p.conjecture = "fof(goal, conjecture, " + c + ").\n";
  p.negated = "fof(goal, conjecture, ~ " + c + ").\n";
  return p;
}

Result<TptpProblem> translate(const std::vector<std::string>& premises, const std::string& conclusion) {
  std::vector<ParsedFormula> parsed;
  parsed.reserve(premises.size());
  for (size_t i = 0; i < premises.size(); ++i) {
    auto f = parse_fol(premises[i]);
    if (!f.ok()) return f.error().with_context("premise " + std::to_string(i + 1));
    parsed.push_back(std::move(f.value()));
  }
  auto c = parse_fol(conclusion);
  if (!c.ok()) return c.error().with_context("conclusion");
  return to_tptp(parsed, *c);
}

}  // namespace troupe::prover
