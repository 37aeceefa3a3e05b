// Tokenizer construction, special-token splitting, the encode driver and
// decoding. The SPM and BPE algorithms live in tokenizer_spm.cpp and
// tokenizer_bpe.cpp; llama2.c's file format in tokenizer_llama2c.cpp.
#include "engine/local/tokenizer.hpp"

#include <algorithm>
#include <cstdio>

#include "engine/local/gguf.hpp"
#include "engine/local/unicode.hpp"

namespace troupe::engine::local {

namespace {

constexpr std::string_view kSpmSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's space

// "<0x41>" -> 0x41; -1 when `s` is not of that form.
int parse_byte_token(std::string_view s) {
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
  int v = 0;
  for (char c : s.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, from.size(), from) == 0) {
      out += to;
      i += from.size();
    } else {
      out += s[i++];
    }
  }
  return out;
}

bool renders_as_text(TokenType t) {
  return t == TokenType::normal || t == TokenType::user_defined || t == TokenType::byte ||
         t == TokenType::undefined;
}

}  // namespace

Result<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
  auto vocab = vocab_from_gguf(file);
  if (!vocab.ok()) return vocab.error();
  auto tok = from_vocab(std::move(vocab).value());
  if (!tok.ok()) return tok.error().with_context(file.path());
  return tok;
}

Result<Tokenizer> Tokenizer::from_vocab(VocabData v) {
  Tokenizer t;
  if (v.model == "llama") {
    t.kind_ = Kind::spm;
  } else if (v.model == "gpt2") {
    t.kind_ = Kind::bpe;
    auto pre = pretokenizer_from_name(v.pre);
    if (!pre) {
      return Error(ErrorCode::unsupported,
                   "tokenizer.ggml.pre '" + v.pre + "' is not supported (known: gpt-2, default, llama-bpe, qwen2)");
    }
    t.pre_ = *pre;
    t.ignore_merges_ = t.pre_ == PreTokenizer::llama3;
  } else {
    return Error(ErrorCode::unsupported, "tokenizer.ggml.model '" + v.model +
                                             "' is not supported (known: llama, gpt2)");
  }
  const size_t n = v.tokens.size();
  if (n == 0) return Error(ErrorCode::invalid_argument, "tokenizer.ggml.tokens is empty");
  if (n > 0x7FFFFFFF) return Error(ErrorCode::invalid_argument, "tokenizer.ggml.tokens: too many tokens");
  if (!v.scores.empty() && v.scores.size() != n) {
    return Error(ErrorCode::invalid_argument, "tokenizer.ggml.scores has " + std::to_string(v.scores.size()) +
                                                  " entries for " + std::to_string(n) + " tokens");
  }
  if (!v.token_types.empty() && v.token_types.size() != n) {
    return Error(ErrorCode::invalid_argument, "tokenizer.ggml.token_type has " +
                                                  std::to_string(v.token_types.size()) + " entries for " +
                                                  std::to_string(n) + " tokens");
  }
  const auto check_id = [&](int32_t id, const char* key) -> Status {
    if (id < -1 || id >= static_cast<int64_t>(n)) {
      return Error(ErrorCode::invalid_argument, std::string("tokenizer.ggml.") + key + " " + std::to_string(id) +
                                                    " is outside the vocabulary of " + std::to_string(n));
    }
    return {};
  };
  for (auto [id, key] : {std::pair{v.bos, "bos_token_id"}, {v.eos, "eos_token_id"},
                         {v.unk, "unknown_token_id"}, {v.pad, "padding_token_id"},
                         {v.sep, "seperator_token_id"}, {v.eot, "eot_token_id"}}) {
    if (auto st = check_id(id, key); !st) return st.error();
  }
  t.bos_ = v.bos;
  t.eos_ = v.eos;
  t.unk_ = v.unk;
  t.pad_ = v.pad;
  t.sep_ = v.sep;
  t.eot_ = v.eot;
  t.add_bos_ = v.add_bos && v.bos >= 0;
  t.add_space_prefix_ = v.add_space_prefix;
  t.chat_template_ = std::move(v.chat_template);
  t.tokens_ = std::move(v.tokens);
  t.scores_ = std::move(v.scores);

  t.types_.resize(n, TokenType::normal);
  for (size_t i = 0; i < v.token_types.size(); ++i) {
    const int32_t ty = v.token_types[i];
    t.types_[i] = (ty >= 0 && ty <= 6) ? static_cast<TokenType>(ty) : TokenType::normal;
  }
  if (v.token_types.empty()) {  // infer what a typed vocabulary would say
    for (size_t i = 0; i < n; ++i) {
      if (t.kind_ == Kind::spm && parse_byte_token(t.tokens_[i]) >= 0) t.types_[i] = TokenType::byte;
    }
    for (int32_t id : {t.bos_, t.eos_}) {
      if (id >= 0) t.types_[id] = TokenType::control;
    }
    if (t.unk_ >= 0) t.types_[t.unk_] = TokenType::unknown;
  }

  t.token_ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) t.token_ids_.emplace(t.tokens_[i], static_cast<int32_t>(i));

  if (t.kind_ == Kind::bpe) {
    if (auto st = t.init_bpe(); !st) return st.error();
    t.merge_ranks_.reserve(v.merges.size());
    for (size_t r = 0; r < v.merges.size(); ++r) {
      const auto& m = v.merges[r];
      if (m.size() < 3 || m.find(' ', 1) == std::string::npos) {
        return Error(ErrorCode::invalid_argument,
                     "tokenizer.ggml.merges[" + std::to_string(r) + "] '" + m + "' is not 'left right'");
      }
      t.merge_ranks_.emplace(m, static_cast<int32_t>(r));
    }
  }

  // Decoded bytes of every token.
  t.pieces_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = t.tokens_[i];
    switch (t.types_[i]) {
      case TokenType::normal:
      case TokenType::undefined:
        t.pieces_[i] = t.kind_ == Kind::spm ? replace_all(text, kSpmSpace, " ") : t.bpe_token_bytes(text);
        break;
      case TokenType::user_defined:
        t.pieces_[i] = t.kind_ == Kind::spm ? replace_all(text, kSpmSpace, " ") : text;
        break;
      case TokenType::byte: {
        const int b = parse_byte_token(text);
        t.pieces_[i] = b >= 0 ? std::string(1, static_cast<char>(b)) : text;
        break;
      }
      default:
        break;  // control, unknown, unused: nothing unless rendered
    }
  }

  if (t.kind_ == Kind::spm) {
    char buf[8];
    for (int b = 0; b < 256; ++b) {
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      t.byte_tokens_[b] = t.lookup(buf);
    }
  }

  for (size_t i = 0; i < n; ++i) {
    const TokenType ty = t.types_[i];
    if ((ty == TokenType::control || ty == TokenType::user_defined || ty == TokenType::unknown) &&
        !t.tokens_[i].empty()) {
      t.specials_.push_back(static_cast<int32_t>(i));
    }
  }
  std::stable_sort(t.specials_.begin(), t.specials_.end(), [&](int32_t a, int32_t b) {
    return t.tokens_[a].size() > t.tokens_[b].size();
  });

  if (t.eos_ >= 0) t.end_of_generation_.push_back(t.eos_);
  if (t.eot_ >= 0 && t.eot_ != t.eos_) t.end_of_generation_.push_back(t.eot_);
  for (std::string_view s : {"<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>", "<|end|>",
                             "<end_of_turn>", "</s>", "<|eom_id|>"}) {
    const int32_t id = t.lookup(s);
    if (id >= 0 && t.types_[id] == TokenType::control && id != t.eos_ && id != t.eot_)
      t.end_of_generation_.push_back(id);
  }
  return t;
}

int32_t Tokenizer::lookup(std::string_view text) const {
  auto it = token_ids_.find(text);
  return it == token_ids_.end() ? -1 : it->second;
}

bool Tokenizer::mergeable(int32_t id) const {
  const TokenType ty = types_[id];
  return ty == TokenType::normal || ty == TokenType::user_defined || ty == TokenType::undefined;
}

TokenType Tokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return TokenType::undefined;
  return types_[id];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  static const std::string empty;
  if (id < 0 || id >= vocab_size()) return empty;
  return tokens_[id];
}

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  const int32_t id = lookup(text);
  if (id < 0) return std::nullopt;
  return id;
}

bool Tokenizer::is_special(int32_t id) const {
  const TokenType ty = token_type(id);
  return ty == TokenType::control || ty == TokenType::unknown || ty == TokenType::user_defined;
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return std::find(end_of_generation_.begin(), end_of_generation_.end(), id) != end_of_generation_.end();
}

// Like llama.cpp: each special token in turn, longest first, splits every
// raw fragment at each of its occurrences.
std::vector<Tokenizer::Fragment> Tokenizer::split_special(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags{{text, -1}};
  std::vector<Fragment> next;
  for (int32_t id : specials_) {
    const TokenType ty = types_[id];
    if (!parse_special && ty != TokenType::user_defined) continue;
    const std::string& s = tokens_[id];
    if (text.find(s) == std::string_view::npos) continue;
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t pos; (pos = rest.find(s)) != std::string_view::npos;) {
        if (pos > 0) next.push_back({rest.substr(0, pos), -1});
        next.push_back({{}, id});
        rest.remove_prefix(pos + s.size());
      }
      if (!rest.empty()) next.push_back({rest, -1});
    }
    frags.swap(next);
  }
  return frags;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  return encode_from(text, add_bos, parse_special, true);
}

std::vector<int32_t> Tokenizer::encode_continuation(std::string_view text, bool parse_special) const {
  return encode_from(text, false, parse_special, false);
}

std::vector<int32_t> Tokenizer::encode_from(std::string_view text, bool add_bos, bool parse_special,
                                            bool prefix_space) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && bos_ >= 0) out.push_back(bos_);
  if (text.empty()) return out;
  bool prev_special = prefix_space;  // SPM: a text starts with the prefix space
  std::string buf;
  for (const Fragment& f : split_special(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    if (kind_ == Kind::spm) {
      buf.clear();
      if (add_space_prefix_ && prev_special) buf += ' ';
      buf += f.text;
      encode_spm(buf, out);
    } else {
      encode_bpe(f.text, out);
    }
    prev_special = false;
  }
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (id < 0 || id >= vocab_size()) return {};
  if (!renders_as_text(types_[id])) return render_special ? tokens_[id] : std::string();
  return pieces_[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, DecodeOptions options) const {
  StreamDecoder d(*this, options);
  std::string out;
  for (int32_t id : ids) out += d.feed(id);
  out += d.flush();
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options)
    : tok_(&tokenizer), options_(options), strip_next_(options.text_start) {}

std::string StreamDecoder::feed(int32_t id) {
  const Tokenizer& t = *tok_;
  if (id < 0 || id >= t.vocab_size()) return {};
  std::string_view piece;
  const TokenType ty = t.types_[id];
  if (renders_as_text(ty)) {
    piece = t.pieces_[id];
  } else if (options_.render_special) {
    piece = t.tokens_[id];
  }
  const bool spm_prefix = t.kind_ == Tokenizer::Kind::spm && t.add_space_prefix_;
  if (strip_next_ && spm_prefix && (ty == TokenType::normal || ty == TokenType::user_defined ||
                                    ty == TokenType::undefined) &&
      !piece.empty() && piece[0] == ' ') {
    piece.remove_prefix(1);
  }
  strip_next_ = spm_prefix && t.is_special(id);
  held_ += piece;
  // Hold back a trailing lead byte whose continuation bytes have not all
  // arrived yet; release everything before it.
  size_t cut = held_.size();
  for (size_t k = 1; k <= 3 && k <= held_.size(); ++k) {
    const auto b = static_cast<unsigned char>(held_[held_.size() - k]);
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    if (utf8_sequence_length(b) > static_cast<int>(k)) cut = held_.size() - k;
    break;
  }
  std::string out = held_.substr(0, cut);
  held_.erase(0, cut);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace troupe::engine::local
