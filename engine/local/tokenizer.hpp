// Text <-> token ids for the local engine: SentencePiece-style vocabularies
// (GGUF `tokenizer.ggml.model = llama`, and llama2.c's tokenizer.bin) and
// byte-level BPE (`gpt2`, with the pre-tokenizer named by
// `tokenizer.ggml.pre`: gpt-2/default, llama3/llama-bpe, qwen2). Results
// match the Hugging Face tokenizers (and llama.cpp) on the test cases in
// ../shared/data/tokenizers.
//
// What callers may rely on:
// - A Tokenizer is immutable after construction; every method is const and
//   safe to call from several threads at once.
// - encode() never fails: any byte string encodes (SPM falls back to
//   <0xNN> byte tokens, or to the unknown token when the vocabulary has
//   none; byte-level BPE covers every byte). It adds BOS only when asked
//   and the vocabulary has one; pass add_bos() for the vocabulary's own
//   setting. Every special id (bos, eos, unk, pad, sep, eot) may be -1,
//   "none": no BOS is added, generation ends only at the other
//   end-of-generation tokens, unknown text falls back to byte tokens (or is
//   dropped when there are none), and nothing is ever padded.
// - With parse_special, the text of every control token (e.g. "<s>",
//   "<|im_end|>") is matched before pre-tokenization and becomes that
//   token; without it only user-defined tokens are (as Hugging Face does).
//   Ordinary text never produces a control token.
// - Round trip: decode(encode(s, add_bos = true, parse_special = false)) == s
//   for every byte string s, provided the vocabulary has a BOS (SPM) or
//   byte-level coverage (BPE). See DecodeOptions for SPM's prefix space.
// - token_to_piece(id) is the token's bytes alone, with no context: a
//   byte token is one byte, possibly half a UTF-8 character; control tokens
//   are "" unless render_special. StreamDecoder turns a token stream into
//   text piece by piece, and the concatenation of its output equals
//   decode() of the whole stream.
// - Ids outside [0, vocab_size()) decode to "" and are never special.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "engine/local/pretokenize.hpp"
#include "engine/local/vocab.hpp"

namespace troupe::engine::local {

class GgufFile;

struct DecodeOptions {
  // Control, unknown and unused tokens render as their text ("<|im_end|>")
  // instead of nothing.
  bool render_special = false;
  // SPM vocabularies with add_space_prefix: the encoder puts one space in
  // front of the text and after every special token, so the decoder drops
  // one leading space from the piece right after a special token (e.g.
  // BOS), and, when text_start is set, from the first piece too. Leave it
  // false when decoding a continuation (the generated " there" keeps its
  // space); set it to decode ids that began a text without BOS.
  bool text_start = false;
};

class Tokenizer {
 public:
  enum class Kind { spm, bpe };

  // Errors: unknown model or pre-tokenizer name, no tokens, arrays whose
  // lengths differ from the token count, special ids out of range, a BPE
  // merge that is not "left right".
  static Result<Tokenizer> from_vocab(VocabData vocab);
  static Result<Tokenizer> from_gguf(const GgufFile& file);
  // llama2.c's tokenizer.bin: int32 max_token_length, then per token a
  // float32 score, an int32 length and the bytes. `vocab_size` tokens are
  // read (the file does not store the count). Ids 0, 1, 2 are <unk>, BOS,
  // EOS; "<0xNN>" pieces are byte tokens; spaces become SPM's U+2581.
  static Result<Tokenizer> from_llama2c(const std::string& path, int vocab_size);

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;
  // Text that continues earlier tokens (the tail of a prompt whose head is
  // already token ids): no BOS, and no SPM prefix space in front of it (one
  // still follows each special token inside it, as in encode()).
  std::vector<int32_t> encode_continuation(std::string_view text, bool parse_special) const;
  std::string decode(std::span<const int32_t> ids, DecodeOptions options = {}) const;
  std::string token_to_piece(int32_t id, bool render_special = false) const;

  Kind kind() const { return kind_; }
  PreTokenizer pre_tokenizer() const { return pre_; }  // meaningful for bpe
  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos() const { return bos_; }  // -1 when the vocabulary has none
  int32_t eos() const { return eos_; }
  int32_t unk() const { return unk_; }
  int32_t pad() const { return pad_; }  // not used by the engine: nothing is padded
  int32_t sep() const { return sep_; }  // not used by the engine
  int32_t eot() const { return eot_; }
  bool add_bos() const { return add_bos_; }  // the vocabulary's own setting
  bool add_space_prefix() const { return add_space_prefix_; }

  TokenType token_type(int32_t id) const;
  const std::string& token_text(int32_t id) const;  // the raw vocabulary entry
  std::optional<int32_t> find_token(std::string_view text) const;
  // Control tokens: BOS, EOS, "<|im_start|>", ...
  bool is_control(int32_t id) const { return token_type(id) == TokenType::control; }
  // Tokens matched whole before pre-tokenization: control, unknown and
  // user-defined.
  bool is_special(int32_t id) const;
  // EOS, the vocabulary's EOT (tokenizer.ggml.eot_token_id), plus control
  // tokens that end a turn in the known chat formats
  // ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>", "<|end|>",
  // "<end_of_turn>", "</s>").
  bool is_end_of_generation(int32_t id) const;

  const std::string& chat_template() const { return chat_template_; }

 private:
  friend class StreamDecoder;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  struct Fragment {
    std::string_view text;  // raw text when token < 0
    int32_t token = -1;
  };
  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;
  std::vector<int32_t> encode_from(std::string_view text, bool add_bos, bool parse_special, bool prefix_space) const;
  void encode_spm(std::string_view text, std::vector<int32_t>& out) const;        // tokenizer_spm.cpp
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;        // tokenizer_bpe.cpp
  void encode_bpe_word(std::string_view word, std::vector<int32_t>& out) const;   // tokenizer_bpe.cpp
  std::string bpe_token_bytes(std::string_view token_text) const;                 // tokenizer_bpe.cpp
  Status init_bpe();                                                              // tokenizer_bpe.cpp
  int32_t lookup(std::string_view text) const;  // -1 when absent
  bool mergeable(int32_t id) const;             // may be the result of a merge

  Kind kind_ = Kind::spm;
  PreTokenizer pre_ = PreTokenizer::gpt2;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::vector<std::string> pieces_;  // decoded bytes of each token (empty for control)
  StringMap token_ids_;
  StringMap merge_ranks_;            // bpe: "left right" -> rank
  std::vector<int32_t> specials_;    // matched before pre-tokenization, longest first
  std::vector<int32_t> end_of_generation_;
  std::array<int32_t, 256> byte_tokens_{};  // spm: <0xNN>; bpe: the token of each byte's char
  std::array<std::string, 256> byte_chars_;  // bpe: GPT-2's byte -> printable character
  std::vector<int16_t> char_bytes_;          // bpe: code point -> byte, -1 when not a byte char
  int32_t bos_ = -1, eos_ = -1, unk_ = -1, pad_ = -1, sep_ = -1, eot_ = -1;
  bool add_bos_ = false;
  bool add_space_prefix_ = false;
  bool ignore_merges_ = false;  // llama3: a word that is a token is not merged
  std::string chat_template_;
};

// Decodes a stream of tokens into text as they arrive. feed() returns the
// text the token completes: only whole UTF-8 characters; the bytes of a
// character split across tokens are held until it completes, and bytes
// that can never be part of valid UTF-8 are passed through at once.
// flush() returns whatever is still held (raw, possibly an incomplete
// character). For any ids, concat(feed(id)...) + flush() ==
// tokenizer.decode(ids, options). The Tokenizer must outlive the decoder.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options = {});
  std::string feed(int32_t id);
  std::string flush();

 private:
  const Tokenizer* tok_;
  DecodeOptions options_;
  bool strip_next_;  // drop one leading space from the next text piece
  std::string held_;
};

}  // namespace troupe::engine::local
