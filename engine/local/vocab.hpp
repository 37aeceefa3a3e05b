// A tokenizer vocabulary as plain data, in the shape of GGUF's
// `tokenizer.ggml.*` metadata, and the ways to get one: from a GGUF file,
// from Hugging Face tokenizer.json (+ tokenizer_config.json), and back
// into GGUF metadata. Tokenizer::from_vocab() turns it into a tokenizer.
//
// Callers may rely on:
// - vocab_from_gguf() reads the keys llama.cpp writes: tokenizer.ggml.model
//   (required), .pre, .tokens (required), .scores, .token_type, .merges,
//   .bos_token_id, .eos_token_id, .unknown_token_id, .padding_token_id,
//   .seperator_token_id (llama.cpp's spelling), .eot_token_id,
//   .add_bos_token, .add_space_prefix and tokenizer.chat_template. Absent
//   optional keys take llama.cpp's defaults (see VocabData). A special
//   token id outside [0, token count) -- llama.cpp's converters write
//   0xFFFFFFFF for "none" -- counts as absent (-1) and is logged as a
//   warning naming the file and key, as llama.cpp does. A key of the wrong
//   type or an array whose length differs from .tokens is an Error naming
//   the file (once) and the key; nothing here throws. Other
//   `*_token_id` keys (cls, mask, fim_*, ...) are not read.
// - write_vocab_to_gguf() writes the same keys, so a vocabulary read back
//   from the file equals the one written.
// - vocab_from_hf_tokenizer_json() understands byte-level BPE tokenizer.json
//   files (model.type "BPE", vocab + merges as "a b" strings or [a, b]
//   pairs, added_tokens); added tokens marked special become control
//   tokens, the others user-defined. Ids missing between 0 and the largest
//   id are filled with unused "[PAD<id>]" tokens. The pre-tokenizer is
//   recognised from the tokenizer.json's split regex (Qwen2, Llama 3,
//   GPT-2); bos/eos/pad/chat_template come from tokenizer_config.json when
//   its path is not empty.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace troupe::engine::local {

class GgufFile;
class GgufWriter;

// GGUF's `tokenizer.ggml.token_type` values (llama.cpp's numbering).
enum class TokenType : int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

struct VocabData {
  std::string model;   // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string pre;     // pre-tokenizer name for gpt2: "gpt-2", "llama-bpe", "qwen2", ...
  std::vector<std::string> tokens;
  std::vector<float> scores;        // empty or one per token (SPM merge priority)
  std::vector<int32_t> token_types; // empty (all normal) or one per token
  std::vector<std::string> merges;  // BPE: "left right", highest priority first
  int32_t bos = -1, eos = -1, unk = -1, pad = -1;  // -1: none
  int32_t sep = -1;  // separator (BERT-style); kept for round trips, unused by the engine
  int32_t eot = -1;  // end of turn: ends generation like EOS
  bool add_bos = false;             // default: true for llama, false for gpt2
  bool add_space_prefix = false;    // default: true for llama, false for gpt2
  std::string chat_template;        // Jinja text, may be empty
};

Result<VocabData> vocab_from_gguf(const GgufFile& file);
void write_vocab_to_gguf(const VocabData& vocab, GgufWriter& out);

Result<VocabData> vocab_from_hf_tokenizer_json(const std::string& json_path,
                                               const std::string& config_path);

// Reads tokenizer.json (+ tokenizer_config.json, may be "") and writes a
// vocabulary-only GGUF (no tensors) at `out_gguf`. Returns what was written.
Result<VocabData> write_vocab_gguf_from_hf_tokenizer_json(const std::string& json_path,
                                                          const std::string& config_path,
                                                          const std::string& out_gguf);

}  // namespace troupe::engine::local
