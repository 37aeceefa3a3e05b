// Splits FOL text into tokens for the FOL parser. Both syntaxes are read:
// NLTK/Prover9 ASCII (all exists - ! ~ & ^ | -> => <-> <=> = == !=) and
// FOLIO's Unicode (∀ ∃ ¬ ∧ ∨ → ↔ ⟷ ⊕ ≠). Names are letters, digits and
// '_', with apostrophes (' and ’) allowed after the first character, and
// any non-ASCII letter; a dot is its own token (the parser glues "3.5"
// style names back together when no space surrounds the dot). Quoted
// strings ("..." or '...') are one token.
//
// What callers may rely on: tokenize() either returns every token, ending
// with one Tok::end, or an Error (ErrorCode::parse) whose message starts
// with "column N:" and quotes the offending character; invalid UTF-8 is an
// error, never undefined behaviour. Columns count characters, 1-based.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace troupe::prover {

enum class Tok {
  name, string, lparen, rparen, comma, dot,
  not_, and_, or_, implies, iff, xor_, eq, neq,
  forall, exists, end,
};

struct Token {
  Tok kind = Tok::end;
  std::string text;   // as written (a string token: its content)
  int column = 0;     // 1-based, in characters
  bool space_before = false;
};

Result<std::vector<Token>> tokenize(std::string_view text);

// A short description for messages: "')'", "name 'Dog'", "end of input".
std::string describe(const Token& t);

}  // namespace troupe::prover
