// Round trips, streaming decode and special tokens, over every vocabulary.
#include <random>

#include <catch2/catch.hpp>

#include "engine/local/unicode.hpp"
#include "local_tokenizer/fixtures.hpp"

using troupe::engine::local::DecodeOptions;
using troupe::engine::local::StreamDecoder;
using troupe::engine::local::Tokenizer;
using troupe::engine::local::utf8_append;
using namespace troupe::testing;

namespace {

struct Named {
  const char* name;
  const Tokenizer* tok;
};

std::vector<Named> all_tokenizers() {
  std::vector<Named> out;
  for (Named n : {Named{"llama-spm", llama_spm_tokenizer()}, Named{"gpt-2", gpt2_tokenizer()},
                  Named{"qwen2", qwen2_tokenizer()}, Named{"llama2c tok512", llama2c_tokenizer()}}) {
    if (n.tok) out.push_back(n);
  }
  return out;
}

// Random text drawn from ASCII, whitespace, Latin, Cyrillic, CJK, emoji and
// combining marks, so every pre-tokenizer branch is exercised.
std::string random_utf8(std::mt19937& rng, size_t max_chars) {
  static const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0x20, 0x7E}, {0x20, 0x20}, {0x09, 0x0A}, {0x0D, 0x0D}, {0xC0, 0x17F}, {0x300, 0x36F},
      {0x400, 0x4FF}, {0x4E00, 0x4FFF}, {0x1F600, 0x1F64F}, {0x30, 0x39}, {0x2000, 0x200B}, {0x27, 0x27}};
  std::uniform_int_distribution<size_t> len(0, max_chars), pick(0, ranges.size() - 1);
  std::string s;
  for (size_t n = len(rng); n > 0; --n) {
    const auto [lo, hi] = ranges[pick(rng)];
    utf8_append(s, std::uniform_int_distribution<uint32_t>(lo, hi)(rng));
  }
  return s;
}

std::string random_bytes(std::mt19937& rng, size_t max_len) {
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string s(len(rng), '\0');
  for (char& c : s) c = static_cast<char>(byte(rng));
  return s;
}

std::string stream_decode(const Tokenizer& tok, const std::vector<int32_t>& ids, DecodeOptions opts) {
  StreamDecoder d(tok, opts);
  std::string out;
  for (int32_t id : ids) out += d.feed(id);
  return out + d.flush();
}

}  // namespace

TEST_CASE("decode(encode(s)) == s for random UTF-8 text and random bytes", "[roundtrip]") {
  const auto toks = all_tokenizers();
  if (toks.empty()) {
    WARN("skipped: " << shared_path("") << " is absent");
    return;
  }
  std::mt19937 rng(1234);
  for (const auto& [name, tok] : toks) {
    for (int i = 0; i < 200; ++i) {
      const std::string s = (i % 4 == 3) ? random_bytes(rng, 40) : random_utf8(rng, 40);
      const auto ids = tok->encode(s, /*add_bos=*/true, /*parse_special=*/false);
      INFO(name << " text: [" << s << "]");
      REQUIRE(tok->decode(ids) == s);
      // Without BOS, SPM's prefix space is removed by text_start instead.
      const auto bare = tok->encode(s, false, false);
      REQUIRE(tok->decode(bare, DecodeOptions{.text_start = true}) == s);
    }
  }
}

TEST_CASE("decoding token by token equals decoding all at once", "[stream]") {
  const auto toks = all_tokenizers();
  if (toks.empty()) {
    WARN("skipped: " << shared_path("") << " is absent");
    return;
  }
  std::mt19937 rng(99);
  for (const auto& [name, tok] : toks) {
    for (int i = 0; i < 100; ++i) {
      const std::string s = (i % 3 == 2) ? random_bytes(rng, 30) : random_utf8(rng, 30);
      const auto ids = tok->encode(s, true, false);
      for (DecodeOptions opts : {DecodeOptions{}, DecodeOptions{.render_special = true, .text_start = true}}) {
        INFO(name << " text: [" << s << "]");
        REQUIRE(stream_decode(*tok, ids, opts) == tok->decode(ids, opts));
      }
    }
    // Any id sequence, including ids that split characters and ids out of range.
    std::uniform_int_distribution<int32_t> any_id(-2, tok->vocab_size() + 1);
    for (int i = 0; i < 100; ++i) {
      std::vector<int32_t> ids(20);
      for (auto& id : ids) id = any_id(rng);
      REQUIRE(stream_decode(*tok, ids, {}) == tok->decode(ids));
    }
  }
}

TEST_CASE("the stream decoder holds a split UTF-8 character until it completes", "[stream]") {
  const Tokenizer* tok = llama_spm_tokenizer();
  if (!tok) {
    WARN("skipped: " << shared_path("data/tokenizers") << " is absent");
    return;
  }
  // "🦙" has no token of its own in Llama-2: it falls back to four byte tokens.
  const auto ids = tok->encode("🦙", false, false);
  REQUIRE(ids.size() == 5);  // "▁" + <0xF0> <0x9F> <0xA6> <0x99>
  StreamDecoder d(*tok);
  CHECK(d.feed(ids[0]) == " ");
  CHECK(d.feed(ids[1]).empty());
  CHECK(d.feed(ids[2]).empty());
  CHECK(d.feed(ids[3]).empty());
  CHECK(d.feed(ids[4]) == "🦙");
  CHECK(d.flush().empty());
  // An incomplete character at the end comes out raw on flush.
  StreamDecoder e(*tok);
  CHECK(e.feed(ids[1]).empty());
  CHECK(e.flush() == "\xF0");
  // A single byte token is the raw byte.
  CHECK(tok->token_to_piece(ids[1]) == "\xF0");
}

TEST_CASE("SPM decoding drops the prefix space after BOS only", "[decode]") {
  const Tokenizer* tok = llama_spm_tokenizer();
  if (!tok) {
    WARN("skipped: " << shared_path("data/tokenizers") << " is absent");
    return;
  }
  const auto ids = tok->encode("Hello world", true, false);
  REQUIRE(ids == std::vector<int32_t>{1, 15043, 3186});
  CHECK(tok->decode(ids) == "Hello world");
  // A continuation (no BOS) keeps its leading space.
  CHECK(tok->decode(std::vector<int32_t>{15043, 3186}) == " Hello world");
  CHECK(tok->token_to_piece(15043) == " Hello");
  CHECK(tok->decode(ids, {.render_special = true}) == "<s>Hello world");
}

TEST_CASE("special tokens are parsed only when asked", "[special]") {
  if (const Tokenizer* tok = qwen2_tokenizer()) {
    const std::string text = "<|im_start|>user\nHi<|im_end|>";
    const int32_t im_start = *tok->find_token("<|im_start|>");
    const int32_t im_end = *tok->find_token("<|im_end|>");
    CHECK(im_start == 151644);
    CHECK(im_end == 151645);
    CHECK(tok->is_control(im_start));
    CHECK(tok->is_end_of_generation(im_end));
    CHECK(tok->is_end_of_generation(*tok->find_token("<|endoftext|>")));
    CHECK_FALSE(tok->is_end_of_generation(im_start));

    const auto parsed = tok->encode(text, false, true);
    CHECK(parsed.front() == im_start);
    CHECK(parsed.back() == im_end);
    CHECK(parsed.size() == 5);  // <|im_start|> user \n Hi <|im_end|>
    CHECK(tok->decode(parsed) == "user\nHi");  // control tokens render as nothing
    CHECK(tok->decode(parsed, {.render_special = true}) == text);

    const auto plain = tok->encode(text, false, false);
    for (int32_t id : plain) CHECK_FALSE(tok->is_control(id));
    CHECK(tok->decode(plain) == text);

    // User-defined tokens (not special in tokenizer.json) match either way,
    // as in Hugging Face.
    const int32_t think = *tok->find_token("<think>");
    CHECK_FALSE(tok->is_control(think));
    CHECK(tok->is_special(think));
    CHECK(tok->encode("<think>x", false, false).front() == think);
    CHECK(tok->decode(tok->encode("<think>x", false, false)) == "<think>x");
  } else {
    WARN("skipped: " << shared_path("data/tokenizers") << " is absent");
  }

  if (const Tokenizer* tok = llama_spm_tokenizer()) {
    // SPM: "<s>" in text is BOS only with parse_special, and the text after a
    // special token gets its own prefix space.
    const auto parsed = tok->encode("<s>[INST] Hi", false, true);
    CHECK(parsed.front() == 1);
    CHECK(parsed == tok->encode("[INST] Hi", true, false));
    const auto plain = tok->encode("<s>", false, false);
    for (int32_t id : plain) CHECK_FALSE(tok->is_control(id));
    CHECK(tok->decode(plain, {.text_start = true}) == "<s>");
  }

  if (const Tokenizer* tok = gpt2_tokenizer()) {
    CHECK(tok->encode("a<|endoftext|>", false, true) == std::vector<int32_t>{64, 50256});
    CHECK(tok->encode("a<|endoftext|>", false, false).size() > 2);
  }
}

TEST_CASE("llama2.c tok512.bin encodes as llama2.c's encoder does", "[llama2c]") {
  const Tokenizer* tok = llama2c_tokenizer();
  if (!tok) {
    WARN("skipped: " << shared_path("models/stories260K") << " is absent");
    return;
  }
  CHECK(tok->vocab_size() == 512);
  CHECK(tok->bos() == 1);
  CHECK(tok->eos() == 2);
  // The prompt of golden-once-upon-a-time.json: BOS + [403, 407, 261, 378].
  CHECK(tok->encode("Once upon a time", true, false) == std::vector<int32_t>{1, 403, 407, 261, 378});
  CHECK(tok->decode(std::vector<int32_t>{1, 403, 407, 261, 378}) == "Once upon a time");
  // Characters outside the 512 pieces fall back to bytes (<0xNN> = byte + 3).
  const auto ids = tok->encode("中", false, false);  // E4 B8 AD
  CHECK(ids == std::vector<int32_t>{410, 0xE4 + 3, 0xB8 + 3, 0xAD + 3});
  CHECK(tok->decode(tok->encode("中", true, false)) == "中");
}

TEST_CASE("bad vocabularies are errors naming the problem", "[errors]") {
  using troupe::engine::local::VocabData;
  VocabData v;
  v.model = "wordpiece";
  v.tokens = {"a"};
  auto r = Tokenizer::from_vocab(v);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("wordpiece") != std::string::npos);

  v.model = "gpt2";
  v.pre = "mystery";
  r = Tokenizer::from_vocab(v);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("mystery") != std::string::npos);

  v.pre = "gpt-2";
  v.scores = {1.0f, 2.0f};
  r = Tokenizer::from_vocab(v);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("scores") != std::string::npos);

  v.scores.clear();
  v.eos = 7;
  r = Tokenizer::from_vocab(v);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("eos_token_id") != std::string::npos);

  v.eos = -1;
  v.merges = {"ab"};
  r = Tokenizer::from_vocab(v);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("merges") != std::string::npos);

  v.tokens.clear();
  v.merges.clear();
  CHECK_FALSE(Tokenizer::from_vocab(v).ok());

  auto missing = Tokenizer::from_llama2c("/nonexistent/tok.bin", 512);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("/nonexistent/tok.bin") != std::string::npos);
  if (shared_exists("models/stories260K/tok512.bin")) {
    auto too_many = Tokenizer::from_llama2c(shared_path("models/stories260K/tok512.bin"), 100000);
    REQUIRE_FALSE(too_many.ok());
    CHECK(too_many.error().message.find("truncated") != std::string::npos);
  }
}
