// Token-exact prompts on the local engine: a request that continues an
// earlier sequence's text reuses that sequence's token ids (prompt +
// sampled) and tokenizes only what was added, where tokenizing the joined
// text afresh would give other ids.
#include <catch2/catch.hpp>

#include <filesystem>
#include <future>

#include "engine/local/local_backend.hpp"
#include "engine/local/tokenizer.hpp"
#include "support/backend_call.hpp"

using namespace troupe;
using namespace troupe::engine;
using namespace troupe::engine::local;

namespace {

const std::string kStories = std::string(TROUPE_SHARED_DIR) + "/models/stories260K";

GenerateResult run_one(Backend& b, GenerateRequest r) {
  auto res = testing::generate_now(b, std::move(r));
  INFO((res.ok() ? "" : res.error().describe()));
  REQUIRE(res.ok());
  return *res;
}

GenerateRequest text(std::string prompt, int max_tokens, int64_t seed) {
  GenerateRequest r;
  r.kind = PromptKind::text;
  r.prompt = std::move(prompt);
  r.sampling.max_tokens = max_tokens;
  r.sampling.temperature = 1.0;
  r.sampling.seed = seed;
  r.return_token_ids = true;
  return r;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("a multi-segment continuation on stories260K extends the sampled token ids exactly",
          "[local_backend][token_ids][shared]") {
  if (!std::filesystem::exists(kStories + "/stories260K.bin")) {
    WARN("../shared/models/stories260K is absent: skipping the token-exact continuation check");
    return;
  }
  LocalEngineOptions o;
  o.model_path = kStories + "/stories260K.bin";
  o.tokenizer_path = kStories + "/tok512.bin";
  o.threads = 1;
  auto b = make_local_backend(o);
  REQUIRE(b.ok());
  auto tok = Tokenizer::from_llama2c(kStories + "/tok512.bin", 512);
  REQUIRE(tok.ok());

  // Each segment's added text is picked to glue onto the last sampled
  // token ("s", "ing", ...) so that tokenizing the joined text afresh gives
  // other ids at the boundary; the engine must keep the sampled ones.
  const std::vector<std::string> glue = {"ing", "s", "ed", "er", "ly", "e", "n", "r", "t", "y", "a", "o", "h", "d", "l"};
  int naive_differs = 0;
  for (int64_t seed = 1; seed <= 4; ++seed) {
    std::string prompt = "Once upon a time";
    GenerateResult prev = run_one(**b, text(prompt, 10, seed));
    REQUIRE(prev.prompt_token_ids == tok->encode(prompt, true, true));  // the first segment: the prompt as tokenized
    for (int k = 0; k < 3; ++k) {
      REQUIRE(prev.choices.size() == 1);
      const auto& c = prev.choices[0];
      REQUIRE(!c.token_ids.empty());
      if (c.finish == FinishReason::stop) break;  // the model ended its story: nothing to continue
      const std::vector<int32_t> sampled = concat(prev.prompt_token_ids, c.token_ids);
      std::string added = glue[0];
      bool drifts = false;
      for (const auto& g : glue) {
        if (tok->encode(prompt + c.text + g, true, true) != concat(sampled, tok->encode_continuation(g, true))) {
          added = g;
          drifts = true;
          break;
        }
      }
      naive_differs += drifts ? 1 : 0;
      prompt += c.text + added;
      GenerateResult next = run_one(**b, text(prompt, 10, seed * 10 + k));
      CHECK(next.prompt_token_ids == concat(sampled, tok->encode_continuation(added, true)));
      CHECK(next.token_info.find("continue request") != std::string::npos);
      prev = std::move(next);
    }
  }
  // The check above means something only where a fresh tokenization of the
  // joined text would have drifted.
  CHECK(naive_differs > 0);
}

TEST_CASE("a continuation that matches no earlier sequence is tokenized from its text and says so",
          "[local_backend][token_ids][shared]") {
  if (!std::filesystem::exists(kStories + "/stories260K.bin")) {
    WARN("../shared/models/stories260K is absent: skipping the token-exact continuation check");
    return;
  }
  LocalEngineOptions o;
  o.model_path = kStories + "/stories260K.bin";
  o.tokenizer_path = kStories + "/tok512.bin";
  o.chat_template = "chatml";
  o.threads = 1;
  auto b = make_local_backend(o);
  REQUIRE(b.ok());
  GenerateRequest r;
  r.messages = {{"user", "Tell a story."}, {"assistant", "Once upon a time"}};
  r.continue_final_message = true;
  r.sampling.max_tokens = 4;
  r.sampling.seed = 3;
  r.return_token_ids = true;
  auto first = run_one(**b, r);
  CHECK(!first.prompt_token_ids.empty());
  CHECK(first.token_info.find("tokenized from the text") != std::string::npos);
  // The same conversation continued by what the model wrote: token-exact.
  GenerateRequest again = r;
  again.messages.back().content += first.choices.at(0).text;
  auto second = run_one(**b, again);
  const auto expected = concat(first.prompt_token_ids, first.choices[0].token_ids);
  REQUIRE(second.prompt_token_ids.size() >= expected.size() - 1);
  // A sampled end-of-text token is not in the continued text; everything
  // before it is reused as sampled.
  const size_t reused = first.choices[0].finish == FinishReason::stop ? expected.size() - 1 : expected.size();
  CHECK(std::equal(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(reused), second.prompt_token_ids.begin()));
  CHECK(second.token_info.find("continue request") != std::string::npos);
}
