// Just enough Unicode for tokenizers: UTF-8 decoding and encoding that
// never fails on bad bytes, and the three character classes the
// pre-tokenizer regexes use (\p{L}, \p{N}, \s).
//
// Callers may rely on:
// - utf8_decode() consumes at least one byte per call and never reads past
//   `text`; an invalid or truncated sequence decodes as one byte, reported
//   with `valid == false` and code point U+FFFD.
// - The classes follow Unicode general categories (the table is generated
//   from Unicode 14 data): letter = L*, number = N*; whitespace is the
//   Unicode White_Space set (what \s matches in the tokenizers' regexes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::engine::local {

struct Utf8Char {
  uint32_t cp = 0;     // the code point, U+FFFD when !valid
  uint32_t len = 1;    // bytes consumed (>= 1)
  bool valid = false;
};

// Decodes the character that starts at text[pos] (pos < text.size()).
Utf8Char utf8_decode(std::string_view text, size_t pos);
// Appends the UTF-8 encoding of `cp` (cp <= 0x10FFFF).
void utf8_append(std::string& out, uint32_t cp);
// Length of a UTF-8 sequence from its first byte: 1-4, or 0 for a byte
// that cannot start one (a continuation byte, 0xC0, 0xC1, 0xF5-0xFF).
int utf8_sequence_length(unsigned char first);
// True when every byte of `text` belongs to a valid UTF-8 sequence.
bool utf8_is_valid(std::string_view text);

// Character classes.
enum CharFlags : uint8_t {
  kLetter = 1,      // \p{L}
  kNumber = 2,      // \p{N}
  kWhitespace = 4,  // \s
};
uint8_t char_flags(uint32_t cp);
inline bool is_letter(uint32_t cp) { return char_flags(cp) & kLetter; }
inline bool is_number(uint32_t cp) { return char_flags(cp) & kNumber; }
inline bool is_whitespace(uint32_t cp) { return char_flags(cp) & kWhitespace; }

namespace unicode_detail {
struct CategoryRange {
  uint32_t first, last;
  uint8_t flags;
};
extern const CategoryRange kCategoryRanges[];
extern const size_t kCategoryRangeCount;
}  // namespace unicode_detail

}  // namespace troupe::engine::local
