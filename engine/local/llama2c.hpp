// llama2.c's legacy files: the model checkpoint (see load_llama2c in
// model_loader.hpp) and the tokenizer (`tok512.bin`), and the SentencePiece
// vocabulary shape the converters write into GGUF.
//
// What callers may rely on:
// - read_llama2c_tokenizer checks every length against the file and returns
//   an Error naming the file and token index on a short or malformed file.
// - The vocabulary is mapped the way llama.cpp's convert-llama2c-to-ggml
//   does it: id 0 is "<unk>" (type unknown), 1 "<s>" and 2 "</s>" (control),
//   an empty piece is control, "<0xNN>" pieces are byte tokens, everything
//   else is normal; spaces become U+2581 ("▁"), SentencePiece's marker.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "engine/local/vocab.hpp"  // TokenType: llama.cpp's token type numbering

namespace troupe::engine::local {

// A SentencePiece-style ("llama") vocabulary as GGUF stores it.
struct SpmVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // TokenType values
  int32_t unk_id = 0;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
};

// Reads `vocab_size` tokens from a llama2.c tokenizer file.
Result<SpmVocab> read_llama2c_tokenizer(const std::string& path, int vocab_size);

}  // namespace troupe::engine::local
