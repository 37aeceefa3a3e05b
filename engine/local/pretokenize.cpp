#include "engine/local/pretokenize.hpp"

#include "engine/local/unicode.hpp"

namespace troupe::engine::local {

std::optional<PreTokenizer> pretokenizer_from_name(std::string_view name) {
  if (name.empty() || name == "default" || name == "gpt-2" || name == "gpt2") {
    return PreTokenizer::gpt2;
  }
  if (name == "llama3" || name == "llama-bpe" || name == "llama-v3") return PreTokenizer::llama3;
  if (name == "qwen2") return PreTokenizer::qwen2;
  return std::nullopt;
}

const char* to_string(PreTokenizer p) {
  switch (p) {
    case PreTokenizer::gpt2: return "gpt2";
    case PreTokenizer::llama3: return "llama3";
    case PreTokenizer::qwen2: return "qwen2";
  }
  return "?";
}

namespace {

constexpr uint32_t kEnd = 0xFFFFFFFF;  // "past the end": no character

// The text as code points with their classes and byte offsets.
struct Chars {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> flags;
  std::vector<size_t> offset;  // byte offset of each char; offset[n] = text.size()

  explicit Chars(std::string_view text) {
    for (size_t i = 0; i < text.size();) {
      const Utf8Char c = utf8_decode(text, i);
      cp.push_back(c.valid ? c.cp : kEnd - 1);  // invalid bytes: no class
      flags.push_back(c.valid ? char_flags(c.cp) : 0);
      offset.push_back(i);
      i += c.len;
    }
    offset.push_back(text.size());
  }
  size_t size() const { return cp.size(); }
  uint32_t at(size_t i) const { return i < cp.size() ? cp[i] : kEnd; }
  uint8_t fl(size_t i) const { return i < flags.size() ? flags[i] : 0; }
  bool letter(size_t i) const { return fl(i) & kLetter; }
  bool number(size_t i) const { return fl(i) & kNumber; }
  bool space(size_t i) const { return fl(i) & kWhitespace; }
  // [^\s\p{L}\p{N}] for a character that exists.
  bool other(size_t i) const { return i < cp.size() && fl(i) == 0; }
};

uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Length of an English contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
size_t contraction(const Chars& c, size_t i, bool ignore_case) {
  if (c.at(i) != '\'') return 0;
  auto low = [&](size_t j) { return ignore_case ? ascii_lower(c.at(j)) : c.at(j); };
  const uint32_t a = low(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  const uint32_t b = low(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// \s+(?!\S)|\s+ at i (c.space(i) holds): a run of whitespace, leaving its
// last character to the next word when something non-space follows.
size_t whitespace_run(const Chars& c, size_t i) {
  size_t n = 0;
  while (c.space(i + n)) ++n;
  if (n > 1 && i + n < c.size()) return n - 1;
  return n;
}

size_t match_gpt2(const Chars& c, size_t i) {
  if (size_t n = contraction(c, i, false)) return n;
  const size_t j = (c.at(i) == ' ') ? i + 1 : i;  // optional leading space
  if (c.letter(j)) {
    size_t k = j;
    while (c.letter(k)) ++k;
    return k - i;
  }
  if (c.number(j)) {
    size_t k = j;
    while (c.number(k)) ++k;
    return k - i;
  }
  if (c.other(j)) {
    size_t k = j;
    while (c.other(k)) ++k;
    return k - i;
  }
  if (c.space(i)) return whitespace_run(c, i);
  return 1;
}

size_t match_llama3(const Chars& c, size_t i, size_t max_digits) {
  if (size_t n = contraction(c, i, true)) return n;
  const uint32_t cp = c.at(i);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (cp != '\r' && cp != '\n' && !c.number(i) && (c.letter(i) || c.letter(i + 1))) {
    size_t k = i + 1;
    while (c.letter(k)) ++k;
    return k - i;
  }
  // \p{N}{1,max_digits}
  if (c.number(i)) {
    size_t k = i;
    while (c.number(k) && k - i < max_digits) ++k;
    return k - i;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  const size_t j = (cp == ' ') ? i + 1 : i;
  if (c.other(j)) {
    size_t k = j;
    while (c.other(k)) ++k;
    while (c.at(k) == '\r' || c.at(k) == '\n') ++k;
    return k - i;
  }
  if (c.space(i)) {
    // \s*[\r\n]+ : up to the last line break of the whitespace run.
    size_t n = 0, last_break = 0;
    while (c.space(i + n)) {
      if (c.at(i + n) == '\r' || c.at(i + n) == '\n') last_break = n + 1;
      ++n;
    }
    if (last_break > 0) return last_break;
    return whitespace_run(c, i);
  }
  return 1;
}

}  // namespace

std::vector<std::string_view> pretokenize(PreTokenizer p, std::string_view text) {
  std::vector<std::string_view> words;
  const Chars c(text);
  for (size_t i = 0; i < c.size();) {
    size_t n = 0;
    switch (p) {
      case PreTokenizer::gpt2: n = match_gpt2(c, i); break;
      case PreTokenizer::llama3: n = match_llama3(c, i, 3); break;
      case PreTokenizer::qwen2: n = match_llama3(c, i, 1); break;
    }
    if (n == 0) n = 1;
    words.push_back(text.substr(c.offset[i], c.offset[i + n] - c.offset[i]));
    i += n;
  }
  return words;
}

}  // namespace troupe::engine::local
