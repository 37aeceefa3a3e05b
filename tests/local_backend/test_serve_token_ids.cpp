// `troupe serve` answers vLLM's return_token_ids with the engine's own ids
// (chat: prompt_token_ids at the top level; completions: in each choice;
// every choice its token_ids), so a workflow whose backend is another
// troupe process records token-exact steps, as it does against vLLM.
#include <catch2/catch.hpp>

#include <future>
#include <httplib.h>

#include "engine/http/http_backend.hpp"
#include "engine/local/local_backend.hpp"
#include "engine/serve/openai_server.hpp"
#include "support/gguf_edit.hpp"
#include "support/temp_dir.hpp"
#include "support/backend_call.hpp"

using namespace troupe;
using namespace troupe::engine;

namespace {

GenerateResult run_one(Backend& b, GenerateRequest r) {
  auto res = testing::generate_now(b, std::move(r));
  INFO((res.ok() ? "" : res.error().describe()));
  REQUIRE(res.ok());
  return *res;
}

GenerateRequest greedy(PromptKind kind, int max_tokens) {
  GenerateRequest r;
  r.kind = kind;
  if (kind == PromptKind::chat) {
    r.messages = {{"user", "tell me a story about a cat"}};
  } else {
    r.prompt = "once upon a time there was a cat";
  }
  r.sampling.max_tokens = max_tokens;
  r.sampling.temperature = 0.0;
  r.return_token_ids = true;
  return r;
}

}  // namespace

TEST_CASE("troupe serve returns the engine's token ids when asked, and the HTTP client reads them back",
          "[local_backend][token_ids][serve]") {
  testing::TempDir dir;
  const std::string path = dir.file("tiny.gguf");
  REQUIRE(testing::write_tiny_model(path, 5).ok());
  local::LocalEngineOptions o;
  o.model_path = path;
  o.threads = 1;
  o.kv_budget_bytes = size_t{4} << 20;
  auto made = local::make_local_backend(o);
  REQUIRE(made.ok());
  std::shared_ptr<Backend> engine(std::move(made.value()));
  OpenAIServer::Options so;
  so.model = "tiny";
  OpenAIServer server(engine, so);
  REQUIRE(server.start().ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());

  for (auto kind : {PromptKind::chat, PromptKind::text}) {
    const bool chat = kind == PromptKind::chat;
    INFO((chat ? "chat" : "completions"));
    GenerateResult direct = run_one(*engine, greedy(kind, 12));
    REQUIRE_FALSE(direct.prompt_token_ids.empty());
    REQUIRE(direct.choices.size() == 1);
    REQUIRE_FALSE(direct.choices[0].token_ids.empty());

    HttpBackend::Config hc;
    hc.base_url = url;
    hc.model = "tiny";
    hc.api = chat ? "chat" : "completions";
    auto client = HttpBackend::create(hc);
    REQUIRE(client.ok());
    GenerateResult via = run_one(**client, greedy(kind, 12));
    CHECK(via.prompt_token_ids == direct.prompt_token_ids);
    REQUIRE(via.choices.size() == 1);
    CHECK(via.choices[0].token_ids == direct.choices[0].token_ids);
    // (The text is not compared: the random model's bytes are not UTF-8,
    // and JSON carries them as U+FFFD. The ids are the exact record.)
    // The sampled tokens' logprobs come along (the client asks for them
    // with the ids), one per sampled token.
    CHECK(via.choices[0].logprobs.size() == via.choices[0].token_ids.size());
  }

  httplib::Client raw("127.0.0.1", server.port());
  SECTION("without the flag the reply has no ids") {
    auto r = raw.Post("/v1/completions", R"({"model":"tiny","prompt":"a cat","max_tokens":3,"temperature":0})",
                      "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK_THAT(r->body, !Catch::Contains("token_ids"));
  }
  SECTION("a list of prompts with return_token_ids is refused, naming the flag") {
    auto r = raw.Post("/v1/completions",
                      R"({"model":"tiny","prompt":["a cat","a dog"],"max_tokens":3,"return_token_ids":true})",
                      "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK_THAT(r->body, Catch::Contains("return_token_ids"));
  }
  SECTION("a flag that is not a boolean is refused, naming it") {
    auto r = raw.Post("/v1/completions", R"({"model":"tiny","prompt":"a cat","return_token_ids":"yes"})",
                      "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK_THAT(r->body, Catch::Contains("return_token_ids"));
  }
}
