#include "prover_bridge/fol_parser.hpp"

#include <algorithm>
#include <cctype>

#include "prover_bridge/fol_lexer.hpp"

namespace troupe::prover {
namespace {

struct Failure {
  Error error;
};

struct Node {
  Formula f;
  int height = 1;
};

int precedence(Tok t) {
  switch (t) {
    case Tok::and_: return 6;
    case Tok::or_: case Tok::xor_: return 7;
    case Tok::implies: return 8;
    case Tok::iff: return 9;
    default: return 0;
  }
}

// Prover9 reads free names starting with u..z as variables; we take only
// the single letters, so that constants such as FOLIO's `y1995` stay
// constants.
bool free_variable_name(const std::string& n) { return n.size() == 1 && n[0] >= 'u' && n[0] <= 'z'; }

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  ParsedFormula run() {
    if (peek().kind == Tok::end) fail(peek(), "expected a formula");
    Node n = expr(10);
    if (peek().kind == Tok::dot && t_[pos_ + 1].kind == Tok::end) ++pos_;  // Prover9's closing period
    if (peek().kind != Tok::end) {
      const Token& t = peek();
      if (t.kind == Tok::rparen) fail(t, "unbalanced ')': no '(' is open here");
      fail(t, "expected an operator or the end of the formula");
    }
    return ParsedFormula{std::move(n.f), std::move(free_)};
  }

 private:
  const Token& peek(size_t ahead = 0) const { return t_[std::min(pos_ + ahead, t_.size() - 1)]; }
  const Token& take() {
    const Token& t = t_[pos_];
    if (pos_ + 1 < t_.size()) ++pos_;
    return t;
  }

  [[noreturn]] void fail(const Token& t, const std::string& what) {
    throw Failure{Error{ErrorCode::parse, "column " + std::to_string(t.column) + ": " + what + ", found " + describe(t)}};
  }

  struct DepthGuard {
    Parser& p;
    DepthGuard(Parser& parser, const Token& at) : p(parser) {
      if (++p.depth_ > kMaxDepth)
        throw Failure{Error{ErrorCode::parse, "column " + std::to_string(at.column) + ": formula nested more than " +
                                                   std::to_string(kMaxDepth) + " levels deep, found " + describe(at)}};
    }
    ~DepthGuard() { --p.depth_; }
  };

  Node make(Formula::Kind kind, std::vector<Node> subs, int column, const Token& at) {
    Node n;
    n.f.kind = kind;
    n.f.column = column;
    for (auto& s : subs) {
      n.height = std::max(n.height, s.height + 1);
      n.f.sub.push_back(std::move(s.f));
    }
    if (n.height > kMaxDepth)
      throw Failure{Error{ErrorCode::parse, "column " + std::to_string(at.column) + ": formula nested more than " +
                                                 std::to_string(kMaxDepth) + " levels deep, found " + describe(at)}};
    return n;
  }

  // NLTK: parse one expression, then absorb binary operators that bind
  // tighter than the context `ctx` (10 = anything).
  Node expr(int ctx) {
    DepthGuard guard(*this, peek());
    Node lhs = unary();
    for (;;) {
      const Token& op = peek();
      int p = precedence(op.kind);
      if (p == 0 || p >= ctx) break;
      Token op_tok = take();
      Node rhs = expr(p);
      Formula::Kind kind = op_tok.kind == Tok::and_     ? Formula::Kind::and_
                           : op_tok.kind == Tok::or_     ? Formula::Kind::or_
                           : op_tok.kind == Tok::xor_    ? Formula::Kind::xor_
                           : op_tok.kind == Tok::implies ? Formula::Kind::implies
                                                         : Formula::Kind::iff;
      int column = lhs.f.column;
      std::vector<Node> subs;
      subs.push_back(std::move(lhs));
      subs.push_back(std::move(rhs));
      lhs = make(kind, std::move(subs), column, op_tok);
    }
    return lhs;
  }

  Node unary() {
    DepthGuard guard(*this, peek());
    const Token& t = peek();
    switch (t.kind) {
      case Tok::not_: {
        Token op = take();
        std::vector<Node> subs;
        subs.push_back(unary());
        return make(Formula::Kind::not_, std::move(subs), op.column, op);
      }
      case Tok::forall:
      case Tok::exists: return quantified();
      case Tok::lparen: {
        Token open = take();
        if (peek().kind == Tok::rparen) fail(peek(), "expected a formula inside '(' at column " + std::to_string(open.column));
        Node n = expr(10);
        if (peek().kind != Tok::rparen)
          fail(peek(), "expected ')' to close the '(' at column " + std::to_string(open.column));
        take();
        return n;
      }
      case Tok::name:
      case Tok::string: return atom_or_equality();
      default: fail(t, "expected a formula");
    }
  }

  bool bound(const std::string& name) const { return std::find(scope_.begin(), scope_.end(), name) != scope_.end(); }

  Node quantified() {
    Token q = take();
    Formula::Kind kind = q.kind == Tok::forall ? Formula::Kind::forall : Formula::Kind::exists;
    std::vector<Token> vars;
    auto is_var_token = [&](size_t ahead) {
      const Token& v = peek(ahead);
      // `P(x)` applies P; `∀x (...)` (space before the bracket) binds x.
      return v.kind == Tok::name && !(peek(ahead + 1).kind == Tok::lparen && !peek(ahead + 1).space_before);
    };
    if (!is_var_token(0)) fail(peek(), "expected a variable after '" + q.text + "'");
    vars.push_back(take());
    // More variables: `exists x y.` / `∀x y (...)`: lowercase names that are
    // not applied and not compared.
    while (is_var_token(0) && std::islower(static_cast<unsigned char>(peek().text[0])) &&
           peek(1).kind != Tok::eq && peek(1).kind != Tok::neq) {
      // `all x. P` ends the list at the dot; `all x y z` continues.
      vars.push_back(take());
    }
    if (peek().kind == Tok::dot) take();
    if (peek().kind == Tok::end) fail(peek(), "expected the body of '" + q.text + " " + vars.back().text + "'");
    size_t mark = scope_.size();
    for (const auto& v : vars) scope_.push_back(v.text);
    Node body = expr(10);
    scope_.resize(mark);
    for (size_t i = vars.size(); i-- > 0;) {
      std::vector<Node> subs;
      subs.push_back(std::move(body));
      body = make(kind, std::move(subs), i == 0 ? q.column : vars[i].column, q);
      body.f.name = vars[i].text;
    }
    return body;
  }

  // A name, with `a.b` glued back together when no space surrounds the dot.
  Token name_token() {
    Token t = take();
    while (peek().kind == Tok::dot && !peek().space_before && peek(1).kind == Tok::name && !peek(1).space_before) {
      take();
      t.text += "." + take().text;
    }
    return t;
  }

  std::vector<Term> arguments(const Token& head) {
    Token open = take();  // '('
    std::vector<Term> args;
    for (;;) {
      if (peek().kind == Tok::rparen && args.empty()) fail(peek(), "expected an argument of '" + head.text + "'");
      args.push_back(term(true));
      if (peek().kind == Tok::comma) {
        take();
        continue;
      }
      if (peek().kind == Tok::rparen) {
        take();
        return args;
      }
      fail(peek(), "expected ',' or ')' in the arguments of '" + head.text + "' (opened at column " +
                       std::to_string(open.column) + ")");
    }
  }

  Term term(bool in_arguments) {
    DepthGuard guard(*this, peek());
    const Token& t = peek();
    Term out;
    out.column = t.column;
    if (t.kind == Tok::string) {
      out.kind = Term::Kind::constant;
      out.name = take().text;
      return out;
    }
    if (t.kind != Tok::name) fail(t, in_arguments ? "expected an argument (a variable, a constant or a term)" : "expected a term");
    Token head = name_token();
    out.name = head.text;
    if (peek().kind == Tok::lparen) {
      if (bound(head.text)) fail(head, "'" + head.text + "' is a bound variable and cannot be applied to arguments");
      out.kind = Term::Kind::function;
      out.args = arguments(head);
      return out;
    }
    if (bound(head.text)) {
      out.kind = Term::Kind::variable;
      return out;
    }
    // Multi-word constants inside arguments: `Born(Dani Shapiro, Boston)`.
    bool multi = false;
    while (in_arguments && peek().kind == Tok::name && peek().space_before && peek(1).kind != Tok::lparen &&
           !bound(peek().text)) {
      out.name += " " + name_token().text;
      multi = true;
    }
    if (!multi && free_variable_name(out.name)) {
      out.kind = Term::Kind::variable;
      if (std::find(free_.begin(), free_.end(), out.name) == free_.end()) free_.push_back(out.name);
      return out;
    }
    out.kind = Term::Kind::constant;
    return out;
  }

  Node equality(Term lhs) {
    Token op = take();
    Term rhs = term(false);
    Node n;
    n.f.kind = Formula::Kind::equal;
    n.f.column = lhs.column;
    n.f.args.push_back(std::move(lhs));
    n.f.args.push_back(std::move(rhs));
    n.height = 2;
    if (op.kind == Tok::neq) {
      std::vector<Node> subs;
      subs.push_back(std::move(n));
      return make(Formula::Kind::not_, std::move(subs), op.column, op);
    }
    return n;
  }

  Node atom_or_equality() {
    if (peek().kind == Tok::string) {
      Term lhs = term(false);
      if (peek().kind != Tok::eq && peek().kind != Tok::neq)
        fail(peek(), "a quoted string is a constant, not a formula; expected '=' or '!=' after it");
      return equality(std::move(lhs));
    }
    size_t save = pos_;
    Token head = name_token();
    if (peek().kind == Tok::lparen) {
      if (bound(head.text)) fail(head, "'" + head.text + "' is a bound variable and cannot be used as a predicate");
      std::vector<Term> args = arguments(head);
      if (peek().kind == Tok::eq || peek().kind == Tok::neq) {
        Term lhs;
        lhs.kind = Term::Kind::function;
        lhs.name = head.text;
        lhs.args = std::move(args);
        lhs.column = head.column;
        return equality(std::move(lhs));
      }
      Node n;
      n.f.kind = Formula::Kind::atom;
      n.f.name = head.text;
      n.f.args = std::move(args);
      n.f.column = head.column;
      n.height = 2;
      return n;
    }
    if (peek().kind == Tok::eq || peek().kind == Tok::neq) {
      pos_ = save;
      Term lhs = term(false);
      return equality(std::move(lhs));
    }
    // A name on its own is a proposition (a predicate without arguments).
    if (bound(head.text)) fail(head, "'" + head.text + "' is a bound variable, not a formula");
    Node n;
    n.f.kind = Formula::Kind::atom;
    n.f.name = head.text;
    n.f.column = head.column;
    return n;
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::vector<std::string> scope_;
  std::vector<std::string> free_;
};

}  // namespace

Result<ParsedFormula> parse_fol(std::string_view text) {
  auto toks = tokenize(text);
  if (!toks.ok()) return toks.error();
  try {
    Parser p(std::move(toks.value()));
    return p.run();
  } catch (const Failure& f) {
    return f.error;
  }
}

}  // namespace troupe::prover
