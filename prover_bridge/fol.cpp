#include "prover_bridge/fol.hpp"

#include "prover_bridge/fol_lexer.hpp"

namespace troupe::prover {
namespace {

// A constant is written bare when it reads back as the same single name
// (and not as a free variable); otherwise it is quoted.
std::string constant_text(const std::string& name) {
  // Bare when it lexes as name (. name)* with no spaces, which the parser
  // glues back into this one name (`y42.3billion`).
  auto toks = tokenize(name);
  bool bare = toks.ok() && toks->size() % 2 == 0 && !(name.size() == 1 && name[0] >= 'u' && name[0] <= 'z');
  if (bare) {
    std::string glued;
    for (size_t i = 0; i + 1 < toks->size(); ++i) {
      const Token& t = (*toks)[i];
      bool want_name = i % 2 == 0;
      if ((want_name ? t.kind != Tok::name : t.kind != Tok::dot) || (i > 0 && t.space_before)) {
        bare = false;
        break;
      }
      glued += t.text;
    }
    bare = bare && glued == name;
  }
  if (bare) return name;
  char q = name.find('"') == std::string::npos ? '"' : '\'';
  return q + name + q;
}

}  // namespace

std::string to_string(const Term& t) {
  std::string out = t.kind == Term::Kind::constant ? constant_text(t.name) : t.name;
  if (t.kind == Term::Kind::function) {
    out += '(';
    for (size_t i = 0; i < t.args.size(); ++i) {
      if (i) out += ", ";
      out += to_string(t.args[i]);
    }
    out += ')';
  }
  return out;
}

std::string to_string(const Formula& f) {
  using K = Formula::Kind;
  auto binary = [&](const char* op) { return "(" + to_string(f.sub[0]) + " " + op + " " + to_string(f.sub[1]) + ")"; };
  switch (f.kind) {
    case K::atom: {
      if (f.args.empty()) return f.name;
      std::string out = f.name + "(";
      for (size_t i = 0; i < f.args.size(); ++i) {
        if (i) out += ", ";
        out += to_string(f.args[i]);
      }
      return out + ")";
    }
    case K::equal: return "(" + to_string(f.args[0]) + " = " + to_string(f.args[1]) + ")";
    case K::not_: return "-" + to_string(f.sub[0]);
    case K::and_: return binary("&");
    case K::or_: return binary("|");
    case K::implies: return binary("->");
    case K::iff: return binary("<->");
    case K::xor_: return binary("⊕");
    case K::forall: return "all " + f.name + ".(" + to_string(f.sub[0]) + ")";
    case K::exists: return "exists " + f.name + ".(" + to_string(f.sub[0]) + ")";
  }
  return "?";
}

}  // namespace troupe::prover
