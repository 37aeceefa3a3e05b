#include "prover_bridge/fol_lexer.hpp"

#include <cstdint>
#include <cstdio>

namespace troupe::prover {
namespace {

// Decodes one UTF-8 code point at s[i]; returns its length, 0 if invalid.
size_t decode(std::string_view s, size_t i, uint32_t& cp) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t len;
  if (b < 0x80) { cp = b; return 1; }
  if ((b & 0xE0) == 0xC0) { cp = b & 0x1F; len = 2; }
  else if ((b & 0xF0) == 0xE0) { cp = b & 0x0F; len = 3; }
  else if ((b & 0xF8) == 0xF0) { cp = b & 0x07; len = 4; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool ascii_alnum(uint32_t cp) {
  return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
}

constexpr uint32_t kRightQuote = 0x2019;  // ’

// Letters of other scripts may appear in names; the general punctuation and
// symbol blocks (where the logical operators live) may not.
bool name_start(uint32_t cp) {
  if (cp < 0x80) return ascii_alnum(cp) || cp == '_';
  if (cp < 0xC0) return false;
  if (cp >= 0x2000 && cp <= 0x2BFF) return false;
  if (cp >= 0x3000 && cp <= 0x303F) return false;
  return true;
}

bool name_char(uint32_t cp) { return name_start(cp) || cp == '\'' || cp == kRightQuote; }

std::string utf8(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

Error at(int column, const std::string& what) {
  return Error{ErrorCode::parse, "column " + std::to_string(column) + ": " + what};
}

}  // namespace

std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::end: return "end of input";
    case Tok::name: return "name '" + t.text + "'";
    case Tok::string: return "string \"" + t.text + "\"";
    default: return "'" + t.text + "'";
  }
}

Result<std::vector<Token>> tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  int column = 1;
  bool space = false;
  auto push = [&](Tok kind, std::string text, int col) {
    out.push_back(Token{kind, std::move(text), col, space});
    space = false;
  };
  while (i < s.size()) {
    uint32_t cp;
    size_t len = decode(s, i, cp);
    if (len == 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned char>(s[i]));
      return at(column, std::string("invalid UTF-8 byte ") + buf);
    }
    int col = column;
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xA0) {
      i += len;
      ++column;
      space = true;
      continue;
    }
    auto next_is = [&](std::string_view lit) { return s.substr(i, lit.size()) == lit; };
    auto op = [&](Tok kind, std::string_view lit) {
      push(kind, std::string(lit), col);
      i += lit.size();
      column += static_cast<int>(lit.size());  // ASCII operators only
    };
    auto uop = [&](Tok kind) {
      push(kind, std::string(s.substr(i, len)), col);
      i += len;
      ++column;
    };
    if (name_start(cp)) {
      size_t start = i;
      while (i < s.size()) {
        uint32_t c;
        size_t l = decode(s, i, c);
        if (l == 0 || !name_char(c)) break;
        i += l;
        ++column;
      }
      std::string word(s.substr(start, i - start));
      Tok kind = Tok::name;
      if (word == "all" || word == "forall") kind = Tok::forall;
      else if (word == "exists" || word == "exist" || word == "some") kind = Tok::exists;
      push(kind, std::move(word), col);
      continue;
    }
    if (cp == '"' || cp == '\'') {
      size_t close = s.find(static_cast<char>(cp), i + 1);
      if (close == std::string_view::npos)
        return at(col, std::string("unterminated string starting with ") + static_cast<char>(cp));
      std::string content(s.substr(i + 1, close - i - 1));
      // Count the characters inside for the column.
      int chars = 0;
      for (size_t k = 0; k < content.size();) {
        uint32_t c;
        size_t l = decode(content, k, c);
        if (l == 0) return at(col, "invalid UTF-8 inside a string");
        k += l;
        ++chars;
      }
      if (content.empty()) return at(col, "empty string");
      push(Tok::string, std::move(content), col);
      i = close + 1;
      column += chars + 2;
      continue;
    }
    switch (cp) {
      case '(': op(Tok::lparen, "("); continue;
      case ')': op(Tok::rparen, ")"); continue;
      case ',': op(Tok::comma, ","); continue;
      case '.': op(Tok::dot, "."); continue;
      case '&': op(Tok::and_, next_is("&&") ? "&&" : "&"); continue;
      case '^': op(Tok::and_, "^"); continue;
      case '|': op(Tok::or_, next_is("||") ? "||" : "|"); continue;
      case '~': op(Tok::not_, "~"); continue;
      case '-':
        if (next_is("->")) op(Tok::implies, "->");
        else op(Tok::not_, "-");
        continue;
      case '!':
        if (next_is("!=")) op(Tok::neq, "!=");
        else op(Tok::not_, "!");
        continue;
      case '=':
        if (next_is("==")) op(Tok::eq, "==");
        else if (next_is("=>")) op(Tok::implies, "=>");
        else op(Tok::eq, "=");
        continue;
      case '<':
        if (next_is("<->")) { op(Tok::iff, "<->"); continue; }
        if (next_is("<=>")) { op(Tok::iff, "<=>"); continue; }
        break;
      case 0x2200: uop(Tok::forall); continue;   // ∀
      case 0x2203: uop(Tok::exists); continue;   // ∃
      case 0x00AC: uop(Tok::not_); continue;     // ¬
      case 0x2227: uop(Tok::and_); continue;     // ∧
      case 0x2228: uop(Tok::or_); continue;      // ∨
      case 0x2192: case 0x21D2: case 0x27F6: case 0x27F9: uop(Tok::implies); continue;  // → ⇒ ⟶ ⟹
      case 0x2194: case 0x21D4: case 0x27F7: case 0x27FA: uop(Tok::iff); continue;      // ↔ ⇔ ⟷ ⟺
      case 0x2295: case 0x22BB: uop(Tok::xor_); continue;  // ⊕ ⊻
      case 0x2260: uop(Tok::neq); continue;      // ≠
      default: break;
    }
    return at(col, "unexpected character '" + utf8(cp) + "'");
  }
  out.push_back(Token{Tok::end, "", column, space});
  return out;
}

}  // namespace troupe::prover
