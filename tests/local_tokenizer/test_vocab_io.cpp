// VocabData through GGUF metadata and Hugging Face tokenizer.json.
#include <catch2/catch.hpp>

#include "engine/local/gguf.hpp"
#include "engine/local/tokenizer.hpp"
#include "engine/local/vocab.hpp"
#include "local_tokenizer/fixtures.hpp"
#include "support/temp_dir.hpp"

using namespace troupe::engine::local;
using namespace troupe::testing;

TEST_CASE("a vocabulary written to GGUF metadata reads back unchanged", "[vocab-io]") {
  VocabData v;
  v.model = "gpt2";
  v.pre = "llama-bpe";
  v.tokens = {"a", "b", "ab", "<|eot|>"};
  v.token_types = {1, 1, 1, 3};
  v.merges = {"a b"};
  v.eos = 3;
  v.add_bos = false;
  v.chat_template = "{{ '<|start_header_id|>' }}<|eot_id|>";
  GgufWriter w;
  write_vocab_to_gguf(v, w);
  const auto bytes = w.to_bytes();
  auto file = GgufFile::from_memory(bytes.data(), bytes.size(), "vocab.gguf");
  REQUIRE(file.ok());
  auto back = vocab_from_gguf(*file);
  REQUIRE(back.ok());
  CHECK(back->model == v.model);
  CHECK(back->pre == v.pre);
  CHECK(back->tokens == v.tokens);
  CHECK(back->token_types == v.token_types);
  CHECK(back->merges == v.merges);
  CHECK(back->bos == -1);
  CHECK(back->eos == 3);
  CHECK_FALSE(back->add_bos);
  CHECK(back->chat_template == v.chat_template);

  auto tok = Tokenizer::from_gguf(*file);
  REQUIRE(tok.ok());
  CHECK(tok->encode("ab", false, false) == std::vector<int32_t>{2});  // llama3: the word is a token
}

TEST_CASE("GGUF vocabulary errors name the key", "[vocab-io]") {
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
  const float scores[] = {0.0f};
  w.set_f32_array("tokenizer.ggml.scores", scores);
  auto bytes = w.to_bytes();
  auto file = GgufFile::from_memory(bytes.data(), bytes.size(), "bad.gguf");
  REQUIRE(file.ok());
  auto v = vocab_from_gguf(*file);
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().message.find("tokenizer.ggml.scores") != std::string::npos);

  GgufWriter no_tokens;
  no_tokens.set_string("tokenizer.ggml.model", "llama");
  bytes = no_tokens.to_bytes();
  file = GgufFile::from_memory(bytes.data(), bytes.size(), "empty.gguf");
  REQUIRE(file.ok());
  v = vocab_from_gguf(*file);
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().message.find("tokenizer.ggml.tokens") != std::string::npos);
}

TEST_CASE("tokenizer.json conversion rejects what it cannot represent", "[vocab-io]") {
  TempDir dir;
  const std::string wordpiece = dir.file("wp.json");
  write_file(wordpiece, R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
  auto r = vocab_from_hf_tokenizer_json(wordpiece, "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("WordPiece") != std::string::npos);

  const std::string broken = dir.file("broken.json");
  write_file(broken, "{\"model\": ");
  r = vocab_from_hf_tokenizer_json(broken, "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("broken.json") != std::string::npos);

  r = vocab_from_hf_tokenizer_json(dir.file("absent.json"), "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("absent.json") != std::string::npos);

  // A small byte-level BPE with the GPT-2 pre-tokenizer converts and encodes.
  const std::string small = dir.file("small.json");
  write_file(small, R"({"added_tokens": [{"id": 4, "content": "<|end|>", "special": true}],
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "hi": 2, "Ġ": 3}, "merges": ["h i"]}})");
  const std::string out = dir.file("small.gguf");
  auto v = write_vocab_gguf_from_hf_tokenizer_json(small, "", out);
  REQUIRE(v.ok());
  auto file = GgufFile::open(out);
  REQUIRE(file.ok());
  auto tok = Tokenizer::from_gguf(*file);
  REQUIRE(tok.ok());
  CHECK(tok->encode("hi<|end|>", false, true) == std::vector<int32_t>{2, 4});
  CHECK(tok->is_end_of_generation(4));
}

TEST_CASE("the vocabulary of a model GGUF written by other software loads", "[vocab-io]") {
  const std::string rel = "models/third-party/llama-2-tiny-random.gguf";
  if (!shared_exists(rel)) {
    WARN("skipped: " << shared_path(rel) << " is absent");
    return;
  }
  auto file = GgufFile::open(shared_path(rel));
  REQUIRE(file.ok());
  auto tok = Tokenizer::from_gguf(*file);
  REQUIRE(tok.ok());
  CHECK(tok->vocab_size() == 32000);
  CHECK(tok->encode("Hello world", tok->add_bos(), false) == std::vector<int32_t>{1, 15043, 3186});
}
