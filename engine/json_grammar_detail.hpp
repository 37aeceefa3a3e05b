// Internal to the JSON grammar (json_grammar.cpp, the schema compiler, and
// json_matcher.cpp, the matcher): the bounds documented in json_grammar.hpp
// and the built-in nodes every grammar starts with. Not a public interface.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/json_grammar.hpp"

namespace troupe::engine::json_grammar_detail {

inline constexpr int kMaxDepth = 32;
inline constexpr size_t kMaxNodes = 4096;
inline constexpr size_t kMaxProps = 64;
inline constexpr size_t kMaxLiterals = 1024;
inline constexpr size_t kMaxPaths = 32;
inline constexpr int kMaxWhitespace = 8;
inline constexpr int kMaxIntDigits = 15, kMaxFracDigits = 15, kMaxExpDigits = 2;

// Built-in nodes shared by every grammar.
inline constexpr int32_t kAny = 0, kAnyObject = 1, kAnyArray = 2, kAnyString = 3, kAnyNumber = 4, kBool = 5,
                         kNull = 6;

using K = JsonGrammar::Kind;

inline bool is_ws(uint8_t c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

}  // namespace troupe::engine::json_grammar_detail
