#include "engine/local/unicode.hpp"

#include <algorithm>

namespace troupe::engine::local {

int utf8_sequence_length(unsigned char b) {
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;  // continuation byte, or an overlong 0xC0/0xC1 lead
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  if (b < 0xF5) return 4;
  return 0;
}

Utf8Char utf8_decode(std::string_view s, size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  const int n = utf8_sequence_length(b0);
  Utf8Char bad{0xFFFD, 1, false};
  if (n == 1) return {b0, 1, true};
  if (n == 0 || pos + n > s.size()) return bad;
  uint32_t cp = b0 & (0xFF >> (n + 1));
  for (int i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return bad;
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return bad;
  }
  return {cp, static_cast<uint32_t>(n), true};
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool utf8_is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const Utf8Char c = utf8_decode(s, i);
    if (!c.valid) return false;
    i += c.len;
  }
  return true;
}

static bool is_white_space_cp(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

uint8_t char_flags(uint32_t cp) {
  if (is_white_space_cp(cp)) return kWhitespace;
  if (cp < 0x80) {
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return kLetter;
    if (cp >= '0' && cp <= '9') return kNumber;
    return 0;
  }
  using unicode_detail::kCategoryRanges;
  const auto* end = kCategoryRanges + unicode_detail::kCategoryRangeCount;
  const auto* it = std::upper_bound(kCategoryRanges, end, cp,
                                    [](uint32_t c, const auto& r) { return c < r.first; });
  if (it == kCategoryRanges) return 0;
  --it;
  return cp <= it->last ? it->flags : 0;
}

}  // namespace troupe::engine::local
