// GGUF files written by other tools (llama.cpp's converters, ollama's test
// data): special token ids meaning "none", and error messages that name
// the file once.
#include <catch2/catch.hpp>

#include <string>

#include "engine/local/gguf.hpp"
#include "engine/local/model_loader.hpp"
#include "engine/local/model_random.hpp"
#include "engine/local/tokenizer.hpp"
#include "engine/local/vocab.hpp"
#include "local_model/shared_files.hpp"
#include "support/gguf_edit.hpp"
#include "support/log_capture.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::engine::local;

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;  // what llama.cpp's converters write for "no such token"

// A small random model (mkmodel's vocabulary: 0 <unk>, 1 <s>, 2 </s>, ...)
// copied with `edit` applied to its metadata.
std::string model_with(testing::TempDir& dir, const std::string& name,
                       const std::function<void(GgufWriter&)>& edit) {
  const std::string base = dir.file("base.gguf");
  REQUIRE(testing::write_tiny_model(base, 5).ok());
  const std::string path = dir.file(name);
  REQUIRE(testing::copy_gguf_with(base, path, edit).ok());
  return path;
}

}  // namespace

TEST_CASE("padding and separator ids of 0xFFFFFFFF are absent, with a warning naming file and key",
          "[gguf][vocab][other_tools]") {
  testing::TempDir dir;
  const std::string path = model_with(dir, "pad-none.gguf", [](GgufWriter& w) {
    w.set_u32("tokenizer.ggml.padding_token_id", kNone);
    w.set_u32("tokenizer.ggml.seperator_token_id", kNone);  // sic, as llama.cpp spells it
  });
  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  testing::LogCapture log;
  auto v = vocab_from_gguf(*f);
  INFO((v.ok() ? "" : v.error().message));
  REQUIRE(v.ok());
  CHECK(v->pad == -1);
  CHECK(v->sep == -1);
  CHECK(v->bos == 1);  // the ids that are in range are kept
  CHECK(v->eos == 2);
  const std::string logged = log.text();
  CHECK_THAT(logged, Catch::Contains(path + ": key tokenizer.ggml.padding_token_id = 4294967295 is outside the "
                                            "vocabulary of 300 tokens; treating it as absent"));
  CHECK_THAT(logged, Catch::Contains("tokenizer.ggml.seperator_token_id = 4294967295"));
  CHECK_THAT(logged, Catch::Contains("[warning]"));
  auto tok = Tokenizer::from_gguf(*f);
  REQUIRE(tok.ok());
  CHECK(tok->pad() == -1);
  CHECK(tok->sep() == -1);
  CHECK(tok->bos() == 1);
}

TEST_CASE("an absent BOS or EOS id is honoured everywhere it is used", "[gguf][vocab][other_tools]") {
  testing::TempDir dir;
  const std::string path = model_with(dir, "no-bos.gguf", [](GgufWriter& w) {
    w.set_u32("tokenizer.ggml.bos_token_id", kNone);
    w.set("tokenizer.ggml.eos_token_id", GgufValue::i32(-1));
    w.set_u32("tokenizer.ggml.unknown_token_id", 300);  // one past the end
    w.set_bool("tokenizer.ggml.add_bos_token", true);   // the model asks for BOS, but has none
  });
  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  testing::LogCapture log;
  auto tok = Tokenizer::from_gguf(*f);
  INFO((tok.ok() ? "" : tok.error().message));
  REQUIRE(tok.ok());
  CHECK(tok->bos() == -1);
  CHECK(tok->eos() == -1);
  CHECK(tok->unk() == -1);
  CHECK_FALSE(tok->add_bos());
  const auto ids = tok->encode("ab", /*add_bos=*/true, /*parse_special=*/false);
  REQUIRE_FALSE(ids.empty());
  CHECK(ids.front() != 1);  // <s> is not prepended
  CHECK(tok->decode(ids, {.text_start = true}) == "ab");
  CHECK_FALSE(tok->is_end_of_generation(-1));
  const std::string logged = log.text();
  CHECK_THAT(logged, Catch::Contains("tokenizer.ggml.bos_token_id = 4294967295"));
  CHECK_THAT(logged, Catch::Contains("no BOS token is prepended"));
  CHECK_THAT(logged, Catch::Contains("tokenizer.ggml.eos_token_id = -1"));
  CHECK_THAT(logged, Catch::Contains("tokenizer.ggml.unknown_token_id = 300"));
}

TEST_CASE("an eot_token_id ends generation like EOS", "[gguf][vocab][other_tools]") {
  testing::TempDir dir;
  // Token 100 is an ordinary piece in mkmodel's vocabulary; as EOT it ends generation.
  const std::string path = model_with(dir, "eot.gguf", [](GgufWriter& w) { w.set_u32("tokenizer.ggml.eot_token_id", 100); });
  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  auto tok = Tokenizer::from_gguf(*f);
  REQUIRE(tok.ok());
  CHECK(tok->eot() == 100);
  CHECK(tok->is_end_of_generation(100));
  CHECK(tok->is_end_of_generation(2));
  CHECK_FALSE(tok->is_end_of_generation(101));
}

TEST_CASE("a special id of the wrong type is an error naming the file once and the key", "[gguf][vocab][bad]") {
  testing::TempDir dir;
  const std::string path =
      model_with(dir, "pad-string.gguf", [](GgufWriter& w) { w.set_string("tokenizer.ggml.padding_token_id", "none"); });
  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  auto tok = Tokenizer::from_gguf(*f);
  REQUIRE_FALSE(tok.ok());
  const std::string& msg = tok.error().message;
  CHECK_THAT(msg, Catch::Contains("key tokenizer.ggml.padding_token_id: expected an integer token id, got string"));
  CHECK(testing::count_occurrences(msg, "pad-string.gguf") == 1);
}

TEST_CASE("vocabulary errors name the file exactly once", "[gguf][vocab][bad]") {
  testing::TempDir dir;
  struct Case {
    const char* name;
    std::function<void(GgufWriter&)> edit;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"scores.gguf", [](GgufWriter& w) { w.set_f32_array("tokenizer.ggml.scores", std::vector<float>{1, 2}); },
       "tokenizer.ggml.scores: 2 entries for 300 tokens"},
      {"model.gguf", [](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "bert"); },
       "tokenizer.ggml.model 'bert' is not supported"},
      {"types.gguf", [](GgufWriter& w) { w.set_string("tokenizer.ggml.token_type", "x"); },
       "key tokenizer.ggml.token_type: expected array of i32"},
      {"addbos.gguf", [](GgufWriter& w) { w.set_u32("tokenizer.ggml.add_bos_token", 1); },
       "key tokenizer.ggml.add_bos_token: expected bool"},
  };
  for (const Case& c : cases) {
    const std::string path = model_with(dir, c.name, c.edit);
    auto f = GgufFile::open(path);
    REQUIRE(f.ok());
    auto tok = Tokenizer::from_gguf(*f);
    INFO(c.name);
    REQUIRE_FALSE(tok.ok());
    CHECK_THAT(tok.error().message, Catch::Contains(c.says));
    CHECK(testing::count_occurrences(tok.error().message, c.name) == 1);
  }
}

TEST_CASE("the third-party llama-2-tiny-random.gguf gives a tokenizer with its special ids", "[gguf][vocab][shared]") {
  const std::string path = testing::shared_model("third-party/llama-2-tiny-random.gguf");
  if (path.empty()) {
    WARN("skipped: " TROUPE_SHARED_DIR "/models/third-party/llama-2-tiny-random.gguf is absent");
    return;
  }
  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  auto tok = Tokenizer::from_gguf(*f);
  INFO((tok.ok() ? "" : tok.error().message));
  REQUIRE(tok.ok());
  CHECK(tok->vocab_size() == 32000);
  CHECK(tok->bos() == 1);
  CHECK(tok->eos() == 2);
  CHECK(tok->unk() == 0);
  CHECK(tok->pad() == -1);
  CHECK(tok->add_bos());
  const auto ids = tok->encode("Hello world", true, false);
  REQUIRE(ids.size() >= 2);
  CHECK(ids.front() == 1);
  CHECK(tok->decode(ids) == "Hello world");
}
