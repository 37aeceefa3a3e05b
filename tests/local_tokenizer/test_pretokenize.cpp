// Unicode classes and the pre-tokenizer splits.
#include <catch2/catch.hpp>

#include "engine/local/pretokenize.hpp"
#include "engine/local/unicode.hpp"

using namespace troupe::engine::local;

namespace {
std::vector<std::string> split(PreTokenizer p, std::string_view text) {
  std::vector<std::string> out;
  for (auto w : pretokenize(p, text)) out.emplace_back(w);
  return out;
}
}  // namespace

TEST_CASE("Unicode classes follow the general categories", "[unicode]") {
  for (uint32_t cp : {uint32_t{'a'}, uint32_t{'Z'}, 0xE9u /* é */, 0x416u /* Ж */, 0x4E2Du /* 中 */, 0x1780u /* Khmer ក */,
                      0x2C6u /* ˆ Lm */, 0x5D0u /* א */}) {
    CHECK(is_letter(cp));
  }
  for (uint32_t cp : {uint32_t{'0'}, uint32_t{'9'}, 0x660u /* Arabic-Indic 0 */, 0xB2u /* ² */, 0x2163u /* Ⅳ */, 0x1F10u /* not N */}) {
    CHECK(is_number(cp) == (cp != 0x1F10u));
  }
  for (uint32_t cp : {0x20u, 0x09u, 0x0Au, 0x0Du, 0x0Bu, 0x0Cu, 0x85u, 0xA0u, 0x2003u, 0x3000u}) CHECK(is_whitespace(cp));
  for (uint32_t cp : {uint32_t{'!'}, uint32_t{'\''}, 0x301u /* combining acute, Mn */, 0x1F600u /* 😀 */, 0x200Bu /* ZWSP, Cf */}) {
    CHECK(char_flags(cp) == 0);
  }
}

TEST_CASE("UTF-8 decoding never fails on bad bytes", "[unicode]") {
  CHECK(utf8_is_valid("héllo 🦙"));
  CHECK_FALSE(utf8_is_valid("\xC3"));
  CHECK_FALSE(utf8_is_valid("\xC0\xAF"));       // overlong
  CHECK_FALSE(utf8_is_valid("\xED\xA0\x80"));   // surrogate
  CHECK_FALSE(utf8_is_valid("\xF4\x90\x80\x80"));  // past U+10FFFF
  const auto c = utf8_decode("\xE2\x96", 0);
  CHECK_FALSE(c.valid);
  CHECK(c.len == 1);
}

TEST_CASE("GPT-2 splits contractions, letters, numbers and space runs", "[pretokenize]") {
  CHECK(split(PreTokenizer::gpt2, "Hello, y'all! 123  x   ") ==
        std::vector<std::string>{"Hello", ",", " y", "'", "all", "!", " 123", " ", " x", "   "});
  CHECK(split(PreTokenizer::gpt2, "I'VE") == std::vector<std::string>{"I", "'", "VE"});
}

TEST_CASE("Llama 3 and Qwen2 differ in how many digits make a word", "[pretokenize]") {
  CHECK(split(PreTokenizer::llama3, "12345 I'VE\n\n  x") ==
        std::vector<std::string>{"123", "45", " I", "'VE", "\n\n", " ", " x"});
  CHECK(split(PreTokenizer::qwen2, "123 ab") == std::vector<std::string>{"1", "2", "3", " ab"});
  CHECK(split(PreTokenizer::qwen2, "!?\n\nx") == std::vector<std::string>{"!?\n\n", "x"});
}

TEST_CASE("pre-tokenizer pieces always concatenate to the input", "[pretokenize]") {
  const std::string text = "\xFF\xC3 a\xE2\x82 \xF0\x9F\xA6\x99 1\r\n\t!";
  for (auto p : {PreTokenizer::gpt2, PreTokenizer::llama3, PreTokenizer::qwen2}) {
    std::string joined;
    for (auto w : pretokenize(p, text)) {
      CHECK_FALSE(w.empty());
      joined += w;
    }
    CHECK(joined == text);
  }
  CHECK(pretokenizer_from_name("llama-bpe") == PreTokenizer::llama3);
  CHECK(pretokenizer_from_name("qwen2") == PreTokenizer::qwen2);
  CHECK(pretokenizer_from_name("default") == PreTokenizer::gpt2);
  CHECK_FALSE(pretokenizer_from_name("deepseek-llm").has_value());
}
