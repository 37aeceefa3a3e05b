// The local engine as a Backend, on real model files: the stories260K
// checkpoint (when ../shared is present) and random-weight GGUFs made with
// the project's own writer.
#include <catch2/catch.hpp>

#include <fstream>
#include <future>
#include <sstream>

#include "engine/local/local_backend.hpp"
#include "engine/local/model_random.hpp"
#include "support/temp_dir.hpp"
#include "support/backend_call.hpp"

using namespace troupe;
using namespace troupe::engine;
using namespace troupe::engine::local;

namespace {

std::future<Result<GenerateResult>> submit(Backend& b, GenerateRequest r) {
  return testing::submit_future(b, std::move(r));
}

GenerateResult run_one(Backend& b, GenerateRequest r) {
  auto res = submit(b, std::move(r)).get();
  INFO((res.ok() ? "" : res.error().describe()));
  REQUIRE(res.ok());
  return *res;
}

std::vector<std::string> texts(const GenerateResult& r) {
  std::vector<std::string> out;
  for (const auto& c : r.choices) out.push_back(c.text);
  return out;
}

GenerateRequest text_request(std::string prompt, int max_tokens, double temperature, std::optional<int64_t> seed, int n = 1) {
  GenerateRequest r;
  r.kind = PromptKind::text;
  r.prompt = std::move(prompt);
  r.sampling.max_tokens = max_tokens;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  r.sampling.n = n;
  return r;
}

std::string shared(const std::string& rel) { return std::string(TROUPE_SHARED_DIR) + "/" + rel; }

}  // namespace

TEST_CASE("the local backend reproduces stories260K's greedy reference text", "[local_backend][shared]") {
  std::ifstream golden(shared("models/stories260K/golden-greedy-200.txt"));
  if (!golden) {
    WARN("../shared/models/stories260K is absent: skipping the stories260K reference check");
    return;
  }
  std::stringstream ss;
  ss << golden.rdbuf();
  std::string expected = ss.str();
  while (!expected.empty() && expected.back() == '\n') expected.pop_back();
  LocalEngineOptions o;
  o.model_path = shared("models/stories260K/stories260K.bin");
  o.tokenizer_path = shared("models/stories260K/tok512.bin");
  o.threads = 2;
  auto b = make_local_backend(o);
  REQUIRE(b.ok());
  // From BOS alone, 200 greedy tokens.
  auto res = run_one(**b, text_request("", 200, 0.0, std::nullopt));
  std::string text = res.choices[0].text;
  // The reference decoder drops the leading space of the first piece.
  if (!text.empty() && text[0] == ' ') text.erase(0, 1);
  CHECK(res.choices[0].token_ids.size() == 200);
  CHECK(text.substr(0, expected.size()) == expected);
}

TEST_CASE("a request's output on a real model is the same alone, among 16 others, and after its prefix was cached",
          "[local_backend][property]") {
  testing::TempDir dir;
  RandomModelOptions m;
  m.dim = 64;
  m.n_layers = 2;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.ffn_dim = 128;
  m.vocab_size = 300;
  m.seed = 11;
  m.stddev = 0.08f;  // enough signal that sampled texts differ
  REQUIRE(write_random_model(m, dir.file("m.gguf")).ok());
  LocalEngineOptions o;
  o.model_path = dir.file("m.gguf");
  o.threads = 2;
  o.block_size = 8;
  const std::string prompt = "abcdefghijklmnopqrstuvwxyz the same context for everyone, then a question?";
  for (double temperature : {0.0, 1.0}) {
    GenerateRequest probe = text_request(prompt, 24, temperature, 99, 3);
    std::vector<std::string> alone;
    {
      auto b = make_local_backend(o);
      REQUIRE(b.ok());
      alone = texts(run_one(**b, probe));
    }
    {
      auto b = make_local_backend(o);
      REQUIRE(b.ok());
      std::vector<std::future<Result<GenerateResult>>> others;
      for (int i = 0; i < 16; ++i)
        others.push_back(submit(**b, text_request(prompt.substr(0, 10 + 3 * i) + std::to_string(i), 20, 0.8, i, 1 + i % 2)));
      auto mine = submit(**b, probe).get();
      REQUIRE(mine.ok());
      CHECK(texts(*mine) == alone);
      for (auto& f : others) CHECK(f.get().ok());
    }
    {
      auto b = make_local_backend(o);
      REQUIRE(b.ok());
      run_one(**b, text_request(prompt + " and more", 2, 0.0, 1));
      auto res = run_one(**b, probe);
      CHECK(res.usage.cached_prompt_tokens > 0);
      CHECK(texts(res) == alone);
    }
  }
}

TEST_CASE("n samples on a real model share one prefill and differ by seed stream", "[local_backend]") {
  testing::TempDir dir;
  RandomModelOptions m;
  m.seed = 5;
  m.stddev = 0.08f;
  REQUIRE(write_random_model(m, dir.file("m.gguf")).ok());
  LocalEngineOptions o;
  o.model_path = dir.file("m.gguf");
  o.threads = 1;
  auto b = make_local_backend(o);
  REQUIRE(b.ok());
  std::string prompt(300, 'q');
  auto res = run_one(**b, text_request(prompt, 8, 1.0, 3, 8));
  REQUIRE(res.choices.size() == 8);
  auto stats = (*b)->stats();
  CHECK(stats.computed_prompt_tokens == res.usage.prompt_tokens);
  auto t = texts(res);
  std::sort(t.begin(), t.end());
  CHECK(std::unique(t.begin(), t.end()) - t.begin() > 1);
}

TEST_CASE("bad model files and missing tokenizers are clear errors", "[local_backend]") {
  testing::TempDir dir;
  testing::write_file(dir.file("junk.gguf"), "GGUF but not really");
  LocalEngineOptions o;
  o.model_path = dir.file("junk.gguf");
  auto b = make_local_backend(o);
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().message.find("junk.gguf") != std::string::npos);
  o.model_path = dir.file("missing.gguf");
  CHECK_FALSE(make_local_backend(o).ok());
  std::ifstream ckpt(shared("models/stories260K/stories260K.bin"));
  if (ckpt) {
    o.model_path = shared("models/stories260K/stories260K.bin");
    auto no_tok = make_local_backend(o);
    REQUIRE_FALSE(no_tok.ok());
    CHECK(no_tok.error().message.find("tokenizer") != std::string::npos);
  }
}

TEST_CASE("chat without a recognisable template is refused, naming one works", "[local_backend]") {
  std::ifstream ckpt(shared("models/stories260K/stories260K.bin"));
  if (!ckpt) {
    WARN("../shared/models/stories260K is absent: skipping");
    return;
  }
  LocalEngineOptions o;
  o.model_path = shared("models/stories260K/stories260K.bin");
  o.tokenizer_path = shared("models/stories260K/tok512.bin");
  auto b = make_local_backend(o);
  REQUIRE(b.ok());
  GenerateRequest chat;
  chat.messages = {{"user", "hello"}};
  chat.sampling.max_tokens = 4;
  auto refused = submit(**b, chat).get();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("template") != std::string::npos);
  o.chat_template = "llama2";
  auto named = make_local_backend(o);
  REQUIRE(named.ok());
  CHECK(submit(**named, chat).get().ok());
}
