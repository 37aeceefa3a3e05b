// Byte-level BPE pre-tokenizers: split text into the "words" that BPE
// merges never cross, as the regexes of GPT-2, Llama 3 and Qwen2 do.
// Implemented by hand over Unicode character classes (unicode.hpp), so
// \p{L} and \p{N} mean what they mean in the Hugging Face tokenizers.
//
// Callers may rely on: the returned pieces are non-empty, in order, and
// concatenate to exactly `text` (bytes of invalid UTF-8 travel as
// one-byte characters of no class).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::engine::local {

enum class PreTokenizer {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  gpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  llama3,
  // As llama3, with single digits: \p{N} instead of \p{N}{1,3}.
  qwen2,
};

// Maps a GGUF `tokenizer.ggml.pre` value to a pre-tokenizer: "gpt-2",
// "default" and "" -> gpt2; "llama3", "llama-bpe", "llama-v3" -> llama3;
// "qwen2" -> qwen2. nullopt for any other name.
std::optional<PreTokenizer> pretokenizer_from_name(std::string_view name);
const char* to_string(PreTokenizer p);

std::vector<std::string_view> pretokenize(PreTokenizer p, std::string_view text);

}  // namespace troupe::engine::local
